/**
 * The messaging core (docs/ARCHITECTURE.md "Data flow"; docs/PROTOCOL.md §5, §7): everything
 * `register`, `send`, `pull` and `listen` do, without printing. It takes an UNLOCKED identity,
 * an open HushStore and a relay URL; it returns data and emits events, and the commands print.
 *
 *   const m = new Messenger({ identity, name: 'alice', store, relayUrl });
 *   m.on('pinned', (c) => ...); m.on('sent', (s) => ...); m.on('message', (msg) => ...);
 *   const bob = await m.resolveRecipient('bob');            // TOFU, key-change detection
 *   await m.flushOutbox();                                  // older mail first
 *   const pipe = m.sendPipeline();                          // pipelined sends (a window)
 *   pipe.submit(m.queueMessages(bob, ['hi'])[0]!);          // sealed + stored + outboxed first
 *   const r = await pipe.drain();                           // r.failed: still in the outbox
 *   await m.pull();                                         // open, store, THEN ack
 *   await m.listen(abortSignal);                            // stays connected, reconnects
 *   await m.close();
 *
 * Durability rules: an outgoing message is in history (status 'queued') and in the outbox, in
 * one transaction, before the relay sees it; it leaves the outbox only once the relay answered
 * `accepted`. A received batch is stored (messages and quarantine, one transaction) before its
 * envelope ids are acked; a re-delivered envelope is a duplicate by message id (history) or by
 * envelope id (quarantine) and is acked without being shown again.
 *
 * Received kinds are dispatched in judge(): msg -> history (and one `delivered` receipt per
 * sender queued in the same transaction, contacts only); receipt -> our sent messages move
 * forward (src/client/receipts.ts); typing -> the 'typing' event only (never stored).
 *
 * Receipts we send wait in the outbox until their random "not before" time (receiptDelay):
 * pull sends only those already due and leaves the rest for a later command; listen (and chat)
 * sends each one when its time passes (src/client/outbox-sender.ts).
 */
import { EventEmitter } from 'node:events';
import { RelayError } from '../errors.js';
import { type Bundle } from '../protocol/bundle.js';
import { canonicalOrAsIs, MAX_PULL_LIMIT } from '../protocol/frames.js';
import { fingerprint } from '../crypto/fingerprint.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes, type Random } from '../crypto/nacl.js';
import { type SharedKeyCache } from '../crypto/seal.js';
import { type Contact, type HushStore } from '../store/db.js';
import { RelayConnections } from './connections.js';
import type { ProcessResult, ReceivedMessage } from './inbound.js';
import { listen } from './listen-loop.js';
import type { DrainResult, MessengerEvents, MessengerOptions, QueuedMessage } from './messenger-types.js';
import { queueMessages } from './outbox.js';
import { OutboxSender } from './outbox-sender.js';
import { BatchReceiver } from './batch-receiver.js';
import type { OuterOpener } from './outer-open.js';
import { outerOpener, prestartOpener, type PulledItem, pullPages } from './pull-pages.js';
import { fsRequired } from './send-errors.js';
import { resolveRecipient } from './recipients.js';
import { RelayClient } from './relay-client.js';
import { DEFAULT_RECEIPT_DELAY, type PendingReceipts, type ReceiptDelay, type SealContext } from './receipts.js';
import { DEFAULT_TOKEN_LIFETIME_MS, syncTokens, TokenUse } from './delivery-tokens.js';
import type { SendPipeline } from './send-pipeline.js';
import { ensureSession, type OutgoingPayload, sealManyFor, type SealOptions } from './sessions.js';
import { DEFAULT_PREKEY_POLICY, type PrekeyPolicy, syncPrekeys } from './prekeys.js';

export { processEnvelopes } from './inbound.js';
export { reprocessQuarantine } from './quarantine-reopen.js';
export type { ProcessResult, QuarantineReason, QuarantineReport, ReceivedMessage, SenderLookup } from './inbound.js';
export { SendPipeline } from './send-pipeline.js';
export { checkBody, unreachable } from './send-errors.js';

export type { DrainResult, ListenState, MessengerEvents, MessengerOptions, PinnedReport, QueuedMessage, SendFailure, SentReport } from './messenger-types.js';

// --- the messenger ---------------------------------------------------------------------------

export class Messenger extends EventEmitter<MessengerEvents> {
  readonly identity: Identity;
  readonly name: string;
  readonly store: HushStore;
  readonly relayUrl: string;
  /** relayUrl, then the fallback URLs of the same deployment (dialled in this order). */
  private readonly urls: string[];
  /** @internal */
  readonly now: () => number;
  /** @internal */
  readonly random: Random;
  /** @internal */
  readonly readReceipts: boolean;
  /** @internal */
  readonly deliveryReceipts: boolean;
  /** @internal */
  readonly receiptDelay: ReceiptDelay;
  /** @internal receipts queued here and still waiting: later ones to the same contact join them */
  readonly pendingReceipts: PendingReceipts = new Map();
  /** @internal */
  readonly cache: SharedKeyCache = new Map();
  /** @internal the relay connections (listen resets a failed connect per attempt) */
  readonly connections: RelayConnections;
  /** Serialises received-batch processing (pull batches and pushes). */
  private chain: Promise<unknown> = Promise.resolve();
  /** Canonical URL of the relay in use: names (and first pins) are what this relay says. */
  readonly relay: string;
  /** Received batches: stored, shown, then acked; read marks (src/client/batch-receiver.ts). */
  private readonly receiver: BatchReceiver;
  /** @internal sends what waits in the outbox (src/client/outbox-sender.ts); used by SendPipeline */
  readonly sender: OutboxSender;
  private readonly tokenLifetimeMs: number;
  /** @internal which held token a send presents (src/client/delivery-tokens.ts); used by SendPipeline */
  readonly tokens: TokenUse;
  readonly requireForwardSecrecy: boolean;
  private readonly prekeyPolicy: PrekeyPolicy;

  constructor(o: MessengerOptions) {
    super();
    this.identity = o.identity;
    this.name = o.name;
    this.store = o.store;
    this.relayUrl = o.relayUrl;
    this.urls = [o.relayUrl, ...(o.fallbackUrls ?? [])];
    this.now = o.now ?? Date.now;
    this.sender = new OutboxSender(this, Math.max(1, o.window ?? 256), this.now);
    this.random = o.random ?? randomBytes;
    this.readReceipts = o.readReceipts ?? true;
    this.deliveryReceipts = o.deliveryReceipts ?? true;
    this.receiptDelay = o.receiptDelay ?? DEFAULT_RECEIPT_DELAY;
    this.tokenLifetimeMs = o.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
    this.relay = canonicalOrAsIs(o.relayUrl);
    this.tokens = new TokenUse(o.store, this.relay, this.now);
    this.requireForwardSecrecy = o.requireForwardSecrecy ?? false;
    this.prekeyPolicy = o.prekeyPolicy ?? DEFAULT_PREKEY_POLICY;
    this.receiver = new BatchReceiver(this, o);
    this.connections = new RelayConnections([o.relayUrl, ...(o.fallbackUrls ?? [])], o.identity, o.timeoutMs);
  }

  /** The newest incoming history row shown through this Messenger's events (see shownAfter). */
  get shownUpTo(): number {
    return this.receiver.shown.upTo;
  }

  /**
   * @internal runs `run` after the received batch in progress and whatever was queued before
   * it (the serialisation of received batches; receipt sends and store polls join it).
   */
  serialise<T>(run: () => T | Promise<T>): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Issues delivery tokens to the contacts due one and removes revoked ones (src/client/
   * delivery-tokens.ts), over the authenticated connection, then sends the token envelopes.
   * Connects only when there is something to do. Best effort: a relay failure leaves it for
   * the next run (token envelopes wait in the outbox).
   */
  async syncTokens(): Promise<void> {
    let queued: QueuedMessage[];
    try {
      queued = await syncTokens(() => this.client(), {
        store: this.store,
        identity: this.identity,
        relay: this.relay,
        lifetimeMs: this.tokenLifetimeMs,
        now: this.now,
        random: this.random,
        cache: this.cache,
      });
    } catch (e) {
      if (e instanceof RelayError) return;
      throw e;
    }
    if (queued.length > 0) await this.sender.sendQueued(queued).catch(() => undefined);
  }

  /** The authenticated connection (connecting and authenticating on first use; src/client/connections.ts). */
  client(): Promise<RelayClient> {
    return this.connections.client();
  }

  /** The unauthenticated connection (sealed sender), dialled on first use. */
  anonClient(): Promise<RelayClient> {
    return this.connections.anonClient();
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.connections.close();
  }

  /** Publishes our bundle under our name (idempotent for the same key), then our prekeys. */
  async register(bundle: Bundle): Promise<void> {
    await (await this.client()).register(bundle);
    await this.syncPrekeys();
  }

  // --- v2 sessions (src/client/sessions.ts, src/client/prekeys.ts) -----------------------------

  private sealOptions(): SealOptions {
    return { store: this.store, identity: this.identity, random: this.random, now: this.now, cache: this.cache };
  }

  /** Seals one payload to `contact`: in its v2 session when there is one, else v1 (refused under requireForwardSecrecy). */
  seal(contact: Contact, p: OutgoingPayload): Uint8Array {
    return this.sealMany(contact, [p])[0]!;
  }

  /** @internal seals payloads to `contact` in order, the v2 session read and written once (sealManyFor) */
  sealMany(contact: Contact, ps: readonly OutgoingPayload[]): Uint8Array[] {
    const r = sealManyFor(this.sealOptions(), contact, ps);
    if (!r.v2 && this.requireForwardSecrecy) throw fsRequired(contact.label, 'no-prekeys');
    return r.envelopes;
  }

  /**
   * Before sending to `contact`: finds or starts the v2 session (one bundle fetch when none is
   * held). Emits 'protocol' when the answer differs from the last one said for this contact.
   * TrustError FORWARD_SECRECY_REQUIRED when it is v1 and v1 is refused.
   */
  async prepareSend(contact: Contact): Promise<boolean> {
    // On the unauthenticated connection: the relay need not learn who starts a session with whom.
    const r = await ensureSession(this.sealOptions(), contact, () => this.anonClient());
    if (!r.v2 && this.requireForwardSecrecy) throw fsRequired(contact.label, r.reason);
    // Said once: v1 when a contact is first sent to without a session, v2 when that changes.
    const said = `v2.said.${contact.id}`;
    const before = this.store.getValue(said);
    const now = r.v2 ? 'v2' : 'v1';
    if (before !== now) {
      this.store.setValue(said, now);
      if (!r.v2) this.emit('protocol', { to: contact.label, v2: false, reason: r.reason });
      else if (before === 'v1') this.emit('protocol', { to: contact.label, v2: true });
    }
    return r.v2;
  }

  /** How often a long-lived connection checks its prekeys: a quarter of the rotation period, 1 s to 1 minute (src/client/listen-loop.ts). */
  get prekeyCheckMs(): number {
    return Math.max(1000, Math.min(60_000, this.prekeyPolicy.rotateMs / 4));
  }

  /** Keeps our prekeys on the relay filled and fresh (best effort: a relay failure waits for the next run). */
  async syncPrekeys(): Promise<void> {
    try {
      await syncPrekeys(this.store, this.identity, await this.client(), this.now(), this.random, this.prekeyPolicy);
    } catch (e) {
      if (!(e instanceof RelayError)) throw e;
    }
  }

  // --- sending -------------------------------------------------------------------------------

  /** The contact to seal to, by the label the user typed (src/client/recipients.ts). */
  resolveRecipient(label: string): Promise<Contact> {
    return resolveRecipient(
      {
        store: this.store,
        relay: this.relay,
        myName: this.name,
        mySignPk: this.identity.signPk,
        lookup: (name, contact) => this.lookupName(name, contact),
        onPinned: (c) => this.emit('pinned', { name: c.label, fingerprint: fingerprint(c.signPk) }),
        onRouted: (r) => this.emit('routed', r),
      },
      label,
    );
  }

  /**
   * Looks `name` up. For a contact we hold a delivery token for, on the unauthenticated
   * connection (the directory is public), so that sending to it never authenticates; a relay
   * that wants auth for lookup (older) gets the authenticated connection.
   */
  private async lookupName(name: string, contact: Contact | undefined): Promise<Bundle> {
    if (contact && this.tokens.tokenFor(contact.id)) {
      try {
        return await (await this.anonClient()).lookup({ name });
      } catch (e) {
        if (!(e instanceof RelayError) || e.code !== 'AUTH_REQUIRED') throw e;
      }
    }
    return (await this.client()).lookup({ name });
  }

  /**
   * Seals each text to `contact` and stores all of them (history, status 'queued', and the
   * outbox) in ONE transaction. Nothing is sent yet. Checks size and emptiness.
   */
  queueMessages(contact: Contact, texts: readonly string[]): QueuedMessage[] {
    return queueMessages(this, contact, texts);
  }

  /** A pipelined sender on the current connection (see SendPipeline). */
  sendPipeline(opts: { completeAtDrain?: boolean } = {}): SendPipeline {
    return this.sender.pipeline(opts.completeAtDrain === true);
  }

  /**
   * Sends an ephemeral envelope (typing) now, with the contact's delivery token on the
   * unauthenticated connection. Only to a contact whose token we hold: the relay refuses an
   * identified ephemeral (TOKEN_REQUIRED), so without one (or once the token is refused) nothing
   * is sent and false is returned.
   */
  async sendEphemeral(contact: Contact, env: Uint8Array): Promise<boolean> {
    const token = this.tokens.tokenFor(contact.id);
    if (!token) return false;
    try {
      await (await this.anonClient()).send(contact.signPk, env, { ephemeral: true, token });
      return true;
    } catch (e) {
      if (e instanceof RelayError && this.tokens.refused(contact.id, e.code)) return false;
      throw e;
    }
  }

  /**
   * Sends everything waiting in the outbox (oldest first, pipelined), except receipts whose
   * "not before" time (their created_at) has not come yet; `receiptsOnly` sends only the due
   * receipts. Never throws for refusals.
   */
  flushOutbox(receiptsOnly = false): Promise<DrainResult> {
    return this.sender.flush(receiptsOnly);
  }

  // --- receiving -----------------------------------------------------------------------------

  /**
   * Opens, stores (one transaction) and then acks one batch; emits 'message' / 'quarantined'.
   * With `later`, the ack and the delivered receipts are STARTED after the commit (in that
   * order) but not awaited: their promises go into `later` for the caller to await, so the
   * next batch can be opened while they travel (pull). Without it, both are awaited.
   */
  async processBatch(items: readonly PulledItem[], ack: boolean | ((eids: string[]) => Promise<unknown>) = true, later?: Promise<unknown>[]): Promise<ProcessResult> {
    const run = (): Promise<ProcessResult> => this.receiver.run(items, ack, later);
    return this.serialise(run);
  }

  /**
   * Emits and returns the incoming messages stored since the last shown one by any process
   * (`pull` calls it at the end: mail a listen, or `hush daemon`, stored before it asked).
   */
  showStored(): ReceivedMessage[] {
    return this.receiver.showStored();
  }

  /**
   * The user has now seen these incoming messages (pull/listen printed them, chat showed
   * them): marks them read and, unless read receipts are off, queues one `read` receipt per
   * sender that is a contact, not a stranger (through the outbox: nothing is lost when the
   * relay is down), sent once its random "not before" time has come. `posts`: the group posts
   * among them, kept apart by a caller that knows (pull); without it every id is looked for
   * among messages and posts.
   */
  markRead(messages: readonly Pick<ReceivedMessage, 'id'>[], posts?: readonly Pick<ReceivedMessage, 'id'>[]): Promise<void> {
    return this.receiver.markRead(messages, posts);
  }

  /** @internal what sealing a receipt takes (src/client/receipts.ts) */
  sealContext(): SealContext {
    return { identity: this.identity, random: this.random, now: this.now, cache: this.cache, delay: this.receiptDelay, pending: this.pendingReceipts };
  }

  /** Flushes the outbox, then pulls batches until the mailbox is empty. */
  async pull(): Promise<{ result: ProcessResult; outbox: DrainResult }> {
    const c = await this.client();
    // A long pull's thread starts now, while the outbox is flushed and the first page fetched,
    // when the relay said at auth that more than a page waits (docs/PERFORMANCE.md "Pull speed-ups").
    const pre = (c.waitingAtAuth ?? 0) > MAX_PULL_LIMIT ? prestartOpener(this.store, this.identity) : undefined;
    let outbox: DrainResult;
    try {
      outbox = await this.flushOutbox();
    } catch (e) {
      await pre?.close();
      throw e;
    }
    const result = await this.pullFrom(c, pre); // closes pre
    await this.syncTokens();
    await this.syncPrekeys();
    return { result, outbox };
  }

  /** @internal reads the whole mailbox on `c` (src/client/pull-pages.ts); listen calls it on each connect */
  pullFrom(c: RelayClient, pre?: OuterOpener): Promise<ProcessResult> {
    return pullPages(c, (items, ack, later) => this.processBatch(items, ack, later), outerOpener(this.store, this.identity), pre);
  }

  /**
   * Stays connected until `signal` aborts: flushes the outbox, pulls what waits, then handles
   * pushes as they come (same path as pull). Reconnects with exponential backoff (200 ms
   * doubling to 10 s, with jitter) and emits one 'state' event per change, not per attempt.
   * Rejects only for failures a retry cannot fix (authentication refused, store errors).
   */
  listen(signal: AbortSignal): Promise<void> {
    return listen(this, signal);
  }
}
