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
 * sends each one when its time passes.
 */
import { EventEmitter } from 'node:events';
import { HushError, RelayError, TrustError, UsageError } from '../errors.js';
import { type Bundle } from '../protocol/bundle.js';
import { bytesEqual, toHex, utf8 } from '../protocol/encoding.js';
import { envelopeId, MAX_BODY_BYTES } from '../protocol/envelope.js';
import { canonicalOrAsIs, MAX_ACK_EIDS, MAX_PULL_LIMIT, type MailItem } from '../protocol/frames.js';
import { verifyBundle } from '../crypto/bundle.js';
import { fingerprint } from '../crypto/fingerprint.js';
import type { GroupEvent } from './groups.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes, type Random, signDetached } from '../crypto/nacl.js';
import { type SharedKeyCache } from '../crypto/seal.js';
import { type Contact, type HushStore, type QuarantineLimits, relayHost, type StoredMessage } from '../store/db.js';
import { bodyText, emptyProcessResult, processEnvelopes, type ProcessResult, type QuarantineReport, type ReceivedMessage } from './inbound.js';
import { RelayClient } from './relay-client.js';
import { dialFirst } from './failover.js';
import {
  DEFAULT_RECEIPT_DELAY,
  type PendingReceipts,
  type QueuedReceipt,
  queueCatchUpReceipts,
  type ReceiptDelay,
  type ReceiptReport,
  queueReadReceipts,
  receiptsAllowed,
  type SealContext,
} from './receipts.js';
import { DEFAULT_TOKEN_LIFETIME_MS, dropHeldToken, heldToken, markTokenDue, syncTokens } from './delivery-tokens.js';
import { SendPacer, SendPipeline, sleep } from './send-pipeline.js';
import { ensureSession, type OutgoingPayload, sealFor, type SealOptions, type V1Reason } from './sessions.js';
import { DEFAULT_PREKEY_POLICY, type PrekeyPolicy, syncPrekeys } from './prekeys.js';

export { processEnvelopes, reprocessQuarantine } from './inbound.js';
export type { ProcessResult, QuarantineReason, QuarantineReport, ReceivedMessage, SenderLookup } from './inbound.js';
export { SendPipeline } from './send-pipeline.js';

// --- public types ----------------------------------------------------------------------------

export interface SentReport {
  to: string;
  /** Message id, hex. */
  id: string;
  time: number;
  eid: string;
  /** true when it had been waiting in the outbox from an earlier run. */
  fromOutbox: boolean;
  /** true when it went with a delivery token on an unauthenticated connection (sealed sender). */
  sealed: boolean;
  /** 2: sealed in a v2 session (forward secrecy); 1: v1. */
  protocol: number;
}

export interface PinnedReport {
  name: string;
  fingerprint: string;
}

export type ListenState =
  /** First connection made (after the outbox flush and the initial pull). */
  | { state: 'connected'; url: string }
  /** The connection dropped, or the first attempt failed; retrying with backoff. */
  | { state: 'disconnected'; url: string; error: string }
  /** Connected again after a 'disconnected'. */
  | { state: 'reconnected'; url: string };

export interface MessengerEvents {
  pinned: [PinnedReport];
  sent: [SentReport];
  message: [ReceivedMessage];
  quarantined: [QuarantineReport];
  state: [ListenState];
  /** An incoming receipt moved (or confirmed) the status of our messages to `from`. */
  receipt: [ReceiptReport];
  /** Receipt ids that did not match a message we sent to that sender (or a malformed receipt). */
  receiptIgnored: [{ from: string; count: number }];
  /** The contact is typing (an ephemeral `typing` envelope). */
  typing: [{ from: string; time: number }];
  /** A group post or membership change was applied (src/client/groups.ts). */
  group: [GroupEvent];
  /** A contact pinned from another relay is reached through the relay in use, by its pinned key. */
  routed: [{ label: string; pinnedFrom: string; via: string }];
  /** The quarantine reached a limit: this many oldest entries were dropped. */
  quarantineFull: [{ dropped: number }];
  /** Sends to `to` use v1 (with why), or v2 again after v1: emitted when it changes, not per send (v2 from the start is silent). */
  protocol: [{ to: string; v2: boolean; reason?: V1Reason }];
}

export interface QueuedMessage {
  eid: string;
  envelope: Uint8Array;
  msgId: Uint8Array;
  contactId: number;
  to: string;
  toSignPk: Uint8Array;
  time: number;
  fromOutbox: boolean;
  /** A receipt (or other control envelope): no 'sent' report. */
  control?: boolean;
  /** Set by the pipeline: it went with a delivery token (sealed sender). */
  sealed?: boolean;
}

export interface SendFailure {
  eid: string;
  to: string;
  error: HushError;
}

export interface DrainResult {
  sent: number;
  failed: SendFailure[];
}

export interface MessengerOptions {
  identity: Identity;
  /** Our own name (keyring header). */
  name: string;
  store: HushStore;
  relayUrl: string;
  /** Other URLs of the same deployment, dialled in order when relayUrl does not answer (src/client/failover.ts). */
  fallbackUrls?: string[];
  /** Pipelined sends in flight at once (default 64). */
  window?: number;
  now?: () => number;
  random?: Random;
  /** Relay request timeout (ms). */
  timeoutMs?: number;
  /**
   * Called right after a received batch is committed and before it is acked. Test hook only:
   * the CLI uses it for HUSH_TEST_CRASH=after-store.
   */
  afterStore?: () => void;
  /** Send `read` receipts from markRead() (default true). */
  readReceipts?: boolean;
  /** Send `delivered` receipts for stored messages (default true). Never to strangers either way. */
  deliveryReceipts?: boolean;
  /** Bounds of the random wait before a receipt may leave (default DEFAULT_RECEIPT_DELAY). */
  receiptDelay?: ReceiptDelay;
  /** Bounds of the quarantine (default DEFAULT_QUARANTINE_LIMITS). */
  quarantineLimits?: QuarantineLimits;
  /** Lifetime (one epoch) of the delivery tokens we issue (default DEFAULT_TOKEN_LIFETIME_MS). */
  tokenLifetimeMs?: number;
  /** Refuse v1 both ways (config requireForwardSecrecy, --require-fs). */
  requireForwardSecrecy?: boolean;
  /** Prekey pool sizes and signed-prekey rotation (default DEFAULT_PREKEY_POLICY). */
  prekeyPolicy?: PrekeyPolicy;
  /**
   * Incoming messages stored after this history row are new to whoever reads this Messenger's
   * events (default: the newest row now). `hush daemon` keeps this cursor across the commands
   * it runs, since its own listen stores mail before a `pull` asks for it.
   */
  shownAfter?: number;
}

// --- the messenger ---------------------------------------------------------------------------

/** Refusals of a token send after which the envelope goes identified (Messenger.tokenRefused). */
const TOKEN_FALLBACK = new Set(['TOKEN_INVALID', 'AUTH_REQUIRED', 'UNKNOWN_TYPE', 'BAD_FRAME']);

/** Failures on connect that retrying will not fix. */
const FATAL_CONNECT = new Set(['AUTH_WRONG_URL', 'AUTH_FAILED', 'AUTH_STALE', 'RELAY_PROTOCOL', 'BAD_RELAY_URL']);
/** How often listen looks for messages another process of this home stored (ms). */
const STORE_POLL_MS = 500;

export function unreachable(url: string, kept: number, cause?: unknown): RelayError {
  const n = kept === 1 ? '1 message' : `${kept} messages`;
  return new RelayError('RELAY_UNREACHABLE', `relay ${url} is unreachable; ${n} kept in the outbox`, {
    hint: 'it will go out with the next hush send, pull or listen',
    cause,
  });
}

export class Messenger extends EventEmitter<MessengerEvents> {
  readonly identity: Identity;
  readonly name: string;
  readonly store: HushStore;
  readonly relayUrl: string;
  /** relayUrl, then the fallback URLs of the same deployment (dialled in this order). */
  private readonly urls: string[];
  private readonly window: number;
  private readonly now: () => number;
  private readonly random: Random;
  private readonly timeoutMs: number | undefined;
  private readonly afterStore: (() => void) | undefined;
  private readonly readReceipts: boolean;
  private readonly deliveryReceipts: boolean;
  private readonly receiptDelay: ReceiptDelay;
  /** The earliest "not before" time of a receipt known to wait in the outbox (listen sends it then). */
  private receiptDue: number | undefined;
  /** Receipts queued here and still waiting: later ones to the same contact join them. */
  private readonly pendingReceipts: PendingReceipts = new Map();
  private readonly cache: SharedKeyCache = new Map();
  private conn: RelayClient | undefined;
  private connecting: Promise<RelayClient> | undefined;
  /** A failed connect is remembered (send/pull do not dial again); listen clears it per attempt. */
  private connectFailure: RelayError | undefined;
  /** Serialises received-batch processing (pull batches and pushes). */
  private chain: Promise<unknown> = Promise.resolve();
  /** Canonical URL of the relay in use: names (and first pins) are what this relay says. */
  readonly relay: string;
  private readonly quarantineLimits: QuarantineLimits | undefined;
  /** Incoming messages stored after this row are shown (by whichever process stored them). */
  private shownRow: number;
  private readonly pacers = new WeakMap<RelayClient, SendPacer>();
  private readonly tokenLifetimeMs: number;
  /** The unauthenticated connection for sends with delivery tokens (sealed sender). */
  private anon: RelayClient | undefined;
  private anonConnecting: Promise<RelayClient> | undefined;
  /** The relay refused a token send as if it did not know tokens: send identified from now on. */
  private noTokens = false;
  readonly requireForwardSecrecy: boolean;
  private readonly prekeyPolicy: PrekeyPolicy;

  constructor(o: MessengerOptions) {
    super();
    this.identity = o.identity;
    this.name = o.name;
    this.store = o.store;
    this.relayUrl = o.relayUrl;
    this.urls = [o.relayUrl, ...(o.fallbackUrls ?? [])];
    this.window = Math.max(1, o.window ?? 256);
    this.now = o.now ?? Date.now;
    this.random = o.random ?? randomBytes;
    this.timeoutMs = o.timeoutMs;
    this.afterStore = o.afterStore;
    this.readReceipts = o.readReceipts ?? true;
    this.deliveryReceipts = o.deliveryReceipts ?? true;
    this.receiptDelay = o.receiptDelay ?? DEFAULT_RECEIPT_DELAY;
    this.quarantineLimits = o.quarantineLimits;
    this.tokenLifetimeMs = o.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
    this.relay = canonicalOrAsIs(o.relayUrl);
    this.requireForwardSecrecy = o.requireForwardSecrecy ?? false;
    this.prekeyPolicy = o.prekeyPolicy ?? DEFAULT_PREKEY_POLICY;
    this.shownRow = o.shownAfter ?? o.store.lastMessageRow();
  }

  /** The newest incoming history row shown through this Messenger's events (see shownAfter). */
  get shownUpTo(): number {
    return this.shownRow;
  }

  /**
   * Waits for this send's turn below the relay's announced rates (SendPacer, per connection).
   * @internal used by SendPipeline
   */
  pace(c: RelayClient): Promise<void> {
    let p = this.pacers.get(c);
    if (!p) {
      const l = c.hello.limits;
      const rate = Math.min(l.sendRatePerConn ?? Infinity, l.sendRatePerIdentity ?? Infinity);
      this.pacers.set(c, (p = new SendPacer(Number.isFinite(rate) && rate > 0 ? rate : 1e9)));
    }
    return p.take();
  }

  /**
   * The delivery token to send `q` with (sealed sender), or undefined: send identified.
   * @internal used by SendPipeline
   */
  tokenFor(q: QueuedMessage): Uint8Array | undefined {
    if (this.noTokens) return undefined;
    return heldToken(this.store, q.contactId, this.relay, this.now());
  }

  /**
   * A token send was refused with `code`: TOKEN_INVALID forgets that token (expired or
   * revoked; the next try goes identified, as at first contact); AUTH_REQUIRED, UNKNOWN_TYPE
   * or BAD_FRAME mean a relay without delivery tokens: identified from now on. Returns false
   * for any other code (not a token problem).
   * @internal used by SendPipeline
   */
  tokenRefused(contactId: number, code: string): boolean {
    if (!TOKEN_FALLBACK.has(code)) return false;
    if (code === 'TOKEN_INVALID') dropHeldToken(this.store, contactId);
    else this.noTokens = true;
    return true;
  }

  /** The unauthenticated connection (sealed sender), dialled on first use. */
  async anonClient(): Promise<RelayClient> {
    if (this.anon && !this.anon.closed) return this.anon;
    this.anonConnecting ??= dialFirst(this.urls, (url) => RelayClient.connect(url, this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs })).finally(
      () => (this.anonConnecting = undefined),
    );
    this.anon = await this.anonConnecting;
    return this.anon;
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
    if (queued.length > 0) await this.sendQueued(queued).catch(() => undefined);
  }

  /** Was this contact pinned from the relay in use? (Contacts from before records v2: yes.) */
  private fromThisRelay(c: Contact): boolean {
    return c.relay === undefined || c.relay === this.relay;
  }

  /** The open connection (connecting and authenticating on first use). */
  async client(): Promise<RelayClient> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.connectFailure) throw this.connectFailure;
    this.connecting ??= dialFirst(this.urls, (url) =>
      RelayClient.connect(url, {
        signPk: this.identity.signPk,
        sign: (m) => signDetached(m, this.identity.signSk),
        ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }),
      }),
    )
      .catch((e: unknown) => {
        if (e instanceof RelayError) this.connectFailure = e;
        throw e;
      })
      .finally(() => (this.connecting = undefined));
    this.conn = await this.connecting;
    return this.conn;
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    const c = this.conn;
    this.conn = undefined;
    if (c && !c.closed) await c.close();
    const a = this.anon;
    this.anon = undefined;
    if (a && !a.closed) await a.close();
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
    const r = sealFor(this.sealOptions(), contact, p);
    if (!r.v2 && this.requireForwardSecrecy) throw fsRequired(contact.label, 'no-prekeys');
    return r.envelope;
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

  /** Keeps our prekeys on the relay filled and fresh (best effort: a relay failure waits for the next run). */
  async syncPrekeys(): Promise<void> {
    try {
      await syncPrekeys(this.store, this.identity, await this.client(), this.now(), this.random, this.prekeyPolicy);
    } catch (e) {
      if (!(e instanceof RelayError)) throw e;
    }
  }

  // --- sending -------------------------------------------------------------------------------

  /**
   * The contact to seal to, by the label the user typed (docs/SECURITY.md "What unauthenticated input may change", PROTOCOL.md §5.7). A pinned
   * contact is checked against this relay's directory when it answers and when it was pinned
   * from this relay: the same keys, or a key the user rejected, keep the pinned contact; any
   * other key is recorded as a key change (TrustError KEY_CHANGED). A contact pinned from another
   * relay is used as pinned (a name is only what one relay says). An unknown name is looked up
   * and pinned on first use (event 'pinned'). UsageError UNKNOWN_RECIPIENT when nobody has the
   * name, SELF for our own name, WRONG_RELAY for `name@host` of another relay; RelayError when
   * the relay is unreachable and the name is not pinned (a pinned contact is returned then).
   */
  async resolveRecipient(label: string): Promise<Contact> {
    let contact = this.store.findContactByLabel(label);
    if (contact?.state === 'changed') throw keyChanged(contact.label);
    if (contact && !this.fromThisRelay(contact)) {
      this.emit('routed', { label: contact.label, pinnedFrom: contact.relay ?? '', via: this.relay });
      return contact;
    }
    let name = contact ? contact.name : label;
    if (!contact) {
      const at = label.indexOf('@');
      if (at > 0) {
        name = label.slice(0, at);
        const host = label.slice(at + 1);
        if (host !== relayHost(this.relay)) {
          throw new UsageError('WRONG_RELAY', `${label} is not pinned, and its relay ${host} is not the one in use (${this.relay})`, {
            hint: `pass --relay ws://${host} to reach ${name} there`,
          });
        }
      }
      if (name === this.name) throw new UsageError('SELF', `${name} is you`, { hint: 'name a contact; hush does not send messages to yourself' });
    }
    let bundle: Bundle | undefined;
    try {
      bundle = await this.lookupName(name, contact);
    } catch (e) {
      if (!(e instanceof RelayError)) throw e;
      if (e.code === 'NOT_FOUND') {
        if (contact) return contact; // the relay forgot the name; the pinned key still works
        throw new UsageError('UNKNOWN_RECIPIENT', `no user named ${name} on the relay`, { hint: `check the name, or ask ${name} to run hush register` });
      }
      if (contact) return contact;
      throw new RelayError(e.code, `${e.message}; ${name}'s key is not pinned yet, so nothing could be sealed and nothing was queued`, {
        ...(e.hint === undefined ? {} : { hint: e.hint }),
        cause: e,
      });
    }
    verifyBundle(bundle);
    if (bundle.name !== name) {
      throw new TrustError('BUNDLE_NAME_MISMATCH', `the relay answered for ${name} with a key bundle named ${bundle.name}`, {
        hint: 'the relay may be misbehaving; do not trust it',
      });
    }
    if (contact) {
      // Same identity key and box key: fine. A key the user rejected: keep the pinned one.
      // Anything else is a key change (a new box key under the same identity key too:
      // conservative, the user confirms with hush trust). The pinned key stays pinned and keeps
      // its verified mark: a relay answer alone never demotes a contact.
      if (bytesEqual(contact.signPk, bundle.signPk) && bytesEqual(contact.boxPk, bundle.boxPk)) return contact;
      if (contact.rejected?.some((k) => bytesEqual(k, bundle.signPk))) return contact;
      this.store.recordKeyChange(contact.id, bundle);
      throw keyChanged(contact.label);
    }
    if (bytesEqual(bundle.signPk, this.identity.signPk))
      throw new UsageError('SELF', `${name} is your own key on this relay`, { hint: 'name a contact; hush does not send messages to yourself' });
    const r = this.store.pinContact(bundle, undefined, this.relay);
    contact = r.contact;
    if (r.status === 'new') this.emit('pinned', { name: contact.label, fingerprint: fingerprint(contact.signPk) });
    else if (r.status === 'changed') {
      if (contact.rejected?.some((k) => bytesEqual(k, bundle.signPk))) return contact;
      this.store.recordKeyChange(contact.id, bundle);
      throw keyChanged(contact.label);
    }
    return contact;
  }

  /**
   * Looks `name` up. For a contact we hold a delivery token for, on the unauthenticated
   * connection (the directory is public), so that sending to it never authenticates; a relay
   * that wants auth for lookup (older) gets the authenticated connection.
   */
  private async lookupName(name: string, contact: Contact | undefined): Promise<Bundle> {
    if (contact && !this.noTokens && heldToken(this.store, contact.id, this.relay, this.now())) {
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
    const bodies = texts.map((text) => {
      const body = utf8(text);
      checkBody(body);
      return { text, body };
    });
    // Times strictly increase per conversation (docs/PROTOCOL.md §5.1): read the newest sent
    // time and store the new messages under one write lock, so two senders cannot interleave.
    let catchUp: QueuedReceipt[] = [];
    const prepared = this.store.transaction(() => {
      const wasStranger = !receiptsAllowed(this.store, contact);
      let time = this.store.nextOutTime(contact.id, this.now());
      const out = bodies.map(({ text, body }) => {
        const msgId = this.random(16);
        const t = time++;
        const envelope = this.seal(contact, { kind: 'msg', id: msgId, time: t, body });
        return { text, msgId, time: t, envelope, eid: envelopeId(envelope) };
      });
      this.store.addMessages(out.map((p) => ({ msgId: p.msgId, contactId: contact.id, direction: 'out', time: p.time, body: p.text, status: 'queued', receivedAt: p.time })));
      for (const p of out) this.store.enqueueOutbox({ eid: p.eid, contactId: contact.id, envelope: p.envelope, msgId: p.msgId, createdAt: p.time });
      // Our first message to a stranger: its earlier mail is acknowledged now (src/client/receipts.ts).
      if (wasStranger && out.length > 0 && receiptsAllowed(this.store, contact)) {
        catchUp = queueCatchUpReceipts(this.store, this.sealContext(), contact, { delivered: this.deliveryReceipts, read: this.readReceipts });
      }
      // We wrote to them: they get a delivery token for our mailbox at the next sync.
      if (this.fromThisRelay(contact)) markTokenDue(this.store, contact, this.relay);
      return out;
    });
    // They wait in the outbox for a flush past their time (listen's timer, the next command).
    for (const q of catchUp) this.receiptDue = Math.min(this.receiptDue ?? Infinity, q.notBefore);
    return prepared.map((p) => ({
      eid: p.eid,
      envelope: p.envelope,
      msgId: p.msgId,
      contactId: contact.id,
      to: contact.label,
      toSignPk: contact.signPk,
      time: p.time,
      fromOutbox: false,
    }));
  }

  /** A pipelined sender on the current connection (see SendPipeline). */
  sendPipeline(): SendPipeline {
    return new SendPipeline(this, this.window);
  }

  /**
   * Sends an ephemeral envelope (typing) now, with the contact's delivery token on the
   * unauthenticated connection. Only to a contact whose token we hold: the relay refuses an
   * identified ephemeral (TOKEN_REQUIRED), so without one (or once the token is refused) nothing
   * is sent and false is returned.
   */
  async sendEphemeral(contact: Contact, env: Uint8Array): Promise<boolean> {
    const token = this.noTokens ? undefined : heldToken(this.store, contact.id, this.relay, this.now());
    if (!token) return false;
    try {
      await (await this.anonClient()).send(contact.signPk, env, { ephemeral: true, token });
      return true;
    } catch (e) {
      if (e instanceof RelayError && this.tokenRefused(contact.id, e.code)) return false;
      throw e;
    }
  }

  /**
   * Sends everything waiting in the outbox (oldest first, pipelined), except receipts whose
   * "not before" time (their created_at) has not come yet; `receiptsOnly` sends only the due
   * receipts. Never throws for refusals.
   */
  async flushOutbox(receiptsOnly = false): Promise<DrainResult> {
    const entries = this.store.listOutbox();
    if (entries.length === 0) return { sent: 0, failed: [] };
    const now = this.now();
    const go: QueuedMessage[] = [];
    for (const e of entries) {
      const c = this.store.getContact(e.contactId);
      if (!c) continue;
      const m = this.store.findMessage(e.msgId, 'out');
      if (m && receiptsOnly) continue;
      // No message row with that id: a receipt waiting in the outbox, not before created_at.
      if (!m && e.createdAt > now) {
        this.receiptDue = Math.min(this.receiptDue ?? Infinity, e.createdAt);
        continue;
      }
      go.push({
        eid: e.eid,
        envelope: e.envelope,
        msgId: e.msgId,
        contactId: e.contactId,
        to: c.label,
        toSignPk: c.signPk,
        time: m?.time ?? e.createdAt,
        fromOutbox: true,
        ...(m ? {} : { control: true }),
      });
    }
    if (go.length === 0) return { sent: 0, failed: [] };
    const pipe = this.sendPipeline();
    for (const q of go) await pipe.submit(q);
    return pipe.drain();
  }

  /** Sends the receipts whose time has come (listen's timer), after any batch in progress. */
  private sendDueReceipts(): void {
    if (this.receiptDue === undefined || this.receiptDue > this.now() || !this.conn || this.conn.closed) return;
    this.receiptDue = undefined; // recomputed by the flush
    const run = async (): Promise<void> => {
      await this.flushOutbox(true).catch(() => undefined); // failures stay in the outbox
    };
    this.chain = this.chain.then(run, run).catch(() => undefined);
  }

  /** Sends the receipts of `list` that are due now; remembers when the others are. */
  private async sendDue(list: readonly (QueuedMessage & { notBefore: number })[]): Promise<DrainResult> {
    const now = this.now();
    const due = list.filter((q) => q.notBefore <= now);
    for (const q of list) if (q.notBefore > now) this.receiptDue = Math.min(this.receiptDue ?? Infinity, q.notBefore);
    return due.length > 0 ? this.sendQueued(due) : { sent: 0, failed: [] };
  }

  /** @internal used by SendPipeline */
  reportSent(q: QueuedMessage): void {
    if (q.control) return;
    this.emit('sent', { to: q.to, id: toHex(q.msgId), time: q.time, eid: q.eid, fromOutbox: q.fromOutbox, sealed: q.sealed === true, protocol: q.envelope[0] ?? 1 });
  }

  // --- receiving -----------------------------------------------------------------------------

  /**
   * Opens, stores (one transaction) and then acks one batch; emits 'message' / 'quarantined'.
   * With `later`, the ack and the delivered receipts are STARTED after the commit (in that
   * order) but not awaited: their promises go into `later` for the caller to await, so the
   * next batch can be opened while they travel (pull). Without it, both are awaited.
   */
  async processBatch(
    items: readonly Pick<MailItem, 'eid' | 'env'>[],
    ack: boolean | ((eids: string[]) => Promise<unknown>) = true,
    later?: Promise<unknown>[],
  ): Promise<ProcessResult> {
    const run = async (): Promise<ProcessResult> => {
      const res = await processEnvelopes(this.store, this.identity, items, {
        myName: this.name,
        lookup: (signPk) => this.lookupSender(signPk),
        onPinned: (c) => this.emit('pinned', { name: c.label, fingerprint: fingerprint(c.signPk) }),
        cache: this.cache,
        now: this.now,
        random: this.random,
        relay: this.relay,
        deliveryReceipts: this.deliveryReceipts,
        receiptDelay: this.receiptDelay,
        pendingReceipts: this.pendingReceipts,
        requireForwardSecrecy: this.requireForwardSecrecy,
        ...(this.quarantineLimits ? { quarantineLimits: this.quarantineLimits } : {}),
      });
      // Shown: every incoming message stored since the last batch, by this process or another
      // reader of the same home (a second listen or chat got the same push and stored it first).
      res.messages = this.takeNew();
      for (const m of res.messages) this.emit('message', m);
      if (res.quarantineDropped > 0) this.emit('quarantineFull', { dropped: res.quarantineDropped });
      for (const q of res.quarantined) if (q.isNew) this.emit('quarantined', q);
      for (const g of res.groups) this.emit('group', g);
      for (const t of res.typing) this.emit('typing', t);
      for (const r of res.receipts) {
        if (r.ids.length > 0) this.emit('receipt', r);
        if (r.ignored > 0) this.emit('receiptIgnored', { from: r.from, count: r.ignored });
      }
      if (items.length > 0) this.afterStore?.(); // committed and shown, not yet acked
      if (later) {
        // Store THEN ack: the commit above is done; the ack frame leaves before the receipts.
        const acked = typeof ack === 'function' ? ack(res.ackEids) : ack ? this.client().then((c) => c.ack(res.ackEids)) : Promise.resolve();
        later.push(acked);
        if (res.outgoing.length > 0) later.push(this.sendDue(res.outgoing)); // not due yet, or failed: they wait in the outbox
        return res;
      }
      if (typeof ack === 'function') await ack(res.ackEids);
      else if (ack) await (await this.client()).ack(res.ackEids);
      if (res.outgoing.length > 0) await this.sendDue(res.outgoing); // not due yet, or failed: they wait in the outbox
      return res;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Emits and returns the incoming messages stored since the last shown one by any process
   * (`pull` calls it at the end: mail a listen, or `hush daemon`, stored before it asked).
   */
  showStored(): ReceivedMessage[] {
    const ms = this.takeNew();
    for (const m of ms) this.emit('message', m);
    return ms;
  }

  /** Incoming messages stored since the last call (by any process), in storage order. */
  private takeNew(): ReceivedMessage[] {
    const out: ReceivedMessage[] = [];
    for (;;) {
      const rows = this.store.incomingAfter(this.shownRow, 1000);
      for (const r of rows) out.push(this.received(r));
      if (rows.length > 0) this.shownRow = rows[rows.length - 1]!.id;
      if (rows.length < 1000) return out;
    }
  }

  private received(r: StoredMessage): ReceivedMessage {
    const c = this.store.getContact(r.contactId);
    return { id: toHex(r.msgId), from: c?.label ?? '?', to: this.name, time: r.time, body: bodyText(r.body) };
  }

  /** Shows what another process of this home stored meanwhile (listen's store poll). */
  private pollStore(last: { dv: number }): void {
    const dv = this.store.dataVersion();
    if (dv === last.dv) return;
    last.dv = dv;
    const run = (): void => {
      for (const m of this.takeNew()) this.emit('message', m);
    };
    this.chain = this.chain.then(run, run).catch(() => undefined);
  }

  /** Sends already-queued envelopes now (best effort: what fails stays in the outbox). */
  private async sendQueued(list: readonly QueuedMessage[]): Promise<DrainResult> {
    const pipe = this.sendPipeline();
    for (const q of list) await pipe.submit(q);
    return pipe.drain();
  }

  /**
   * The user has now seen these incoming messages (pull/listen printed them, chat showed
   * them): marks them read and, unless read receipts are off, queues one `read` receipt per
   * sender that is a contact, not a stranger (through the outbox: nothing is lost when the
   * relay is down), sent once its random "not before" time has come.
   */
  async markRead(messages: readonly Pick<ReceivedMessage, 'id'>[]): Promise<void> {
    if (messages.length === 0) return;
    const ids = messages.map((m) => Uint8Array.from(Buffer.from(m.id, 'hex')));
    const queued = queueReadReceipts(this.store, this.sealContext(), ids, this.readReceipts);
    if (queued.length === 0) return;
    const run = async (): Promise<void> => {
      await this.sendDue(queued).catch(() => undefined);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    await p;
  }

  private sealContext(): SealContext {
    return { identity: this.identity, random: this.random, now: this.now, cache: this.cache, delay: this.receiptDelay, pending: this.pendingReceipts };
  }

  private async lookupSender(signPk: Uint8Array): Promise<Bundle | undefined> {
    try {
      return await (await this.client()).lookup({ signPk });
    } catch (e) {
      if (e instanceof RelayError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Flushes the outbox, then pulls batches until the mailbox is empty. */
  async pull(): Promise<{ result: ProcessResult; outbox: DrainResult }> {
    const c = await this.client();
    const outbox = await this.flushOutbox();
    const result = await this.pullAll(c);
    await this.syncTokens();
    await this.syncPrekeys();
    return { result, outbox };
  }

  private async pullAll(c: RelayClient): Promise<ProcessResult> {
    const total = emptyProcessResult();
    // Acks and delivered receipts in flight (each started after its batch was committed).
    const later: Promise<unknown>[] = [];
    const settle = async (): Promise<void> => {
      const failed = (await Promise.allSettled(later.splice(0))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    // Pages of the largest size (500) are fetched by a pump that runs ahead of the store: each
    // page's request leaves as soon as the previous page arrives (the cursor does not depend on
    // the ack), up to PULL_AHEAD pages, so fetching overlaps opening and storing. The store
    // takes what has arrived, up to PAGES_PER_BATCH pages, as one batch: one commit and one
    // delivered receipt per sender per batch, THEN the ack (docs/PERFORMANCE.md).
    type Page = Awaited<ReturnType<RelayClient['pull']>>;
    const ready: Page[] = [];
    let cursor = 0;
    let fetching = false;
    let exhausted = false;
    let stopped = false;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const pump = (): void => {
      if (fetching || exhausted || stopped || failure || ready.length >= PULL_AHEAD) return;
      fetching = true;
      c.pull({ after: cursor, limit: MAX_PULL_LIMIT }).then(
        (pg) => {
          fetching = false;
          if (pg.items.length > 0) cursor = pg.items[pg.items.length - 1]!.seq;
          if (!pg.more || pg.items.length === 0) exhausted = true;
          ready.push(pg);
          notify();
          pump();
        },
        (e: unknown) => {
          fetching = false;
          failure = { error: e };
          notify();
        },
      );
    };
    pump();
    try {
      for (;;) {
        while (ready.length === 0 && !failure && !(exhausted && !fetching)) await new Promise<void>((r) => (wake = r));
        if (ready.length === 0) {
          if (failure) throw failure.error;
          break; // exhausted
        }
        const pages = ready.splice(0, PAGES_PER_BATCH);
        pump();
        const items = pages.length === 1 ? pages[0]!.items : pages.flatMap((pg) => pg.items);
        if (items.length === 0) continue;
        const r = await this.processBatch(items, (eids) => ackAll(c, eids), later);
        total.messages.push(...r.messages);
        total.groups.push(...r.groups);
        total.quarantined.push(...r.quarantined.filter((q) => q.isNew));
        total.duplicates += r.duplicates;
        total.quarantineDropped += r.quarantineDropped;
        total.ignored += r.ignored;
        total.ackEids.push(...r.ackEids);
        // Keep a bounded number of acks and receipt sends outstanding.
        if (later.length > 32) await settle();
      }
    } finally {
      stopped = true;
      // Every started ack / receipt send is waited for, even when a batch failed.
      await Promise.allSettled(later);
    }
    await settle();
    return total;
  }

  /**
   * Stays connected until `signal` aborts: flushes the outbox, pulls what waits, then handles
   * pushes as they come (same path as pull). Reconnects with exponential backoff (200 ms
   * doubling to 10 s, with jitter) and emits one 'state' event per change, not per attempt.
   * Rejects only for failures a retry cannot fix (authentication refused, store errors).
   */
  async listen(signal: AbortSignal): Promise<void> {
    const last = { dv: this.store.dataVersion() };
    const poll = setInterval(() => {
      try {
        this.pollStore(last);
        this.sendDueReceipts();
      } catch {
        // the next batch reports store failures
      }
    }, STORE_POLL_MS);
    poll.unref();
    try {
      await this.listenLoop(signal);
    } finally {
      clearInterval(poll);
    }
  }

  private async listenLoop(signal: AbortSignal): Promise<void> {
    let delay = 200;
    let everConnected = false;
    let down = false;
    while (!signal.aborted) {
      let c: RelayClient;
      this.connectFailure = undefined;
      try {
        c = await this.client();
      } catch (e) {
        if (!(e instanceof RelayError) || FATAL_CONNECT.has(e.code)) throw e;
        if (!down) this.emit('state', { state: 'disconnected', url: this.relayUrl, error: e.message });
        down = true;
        await sleep(delay / 2 + (delay / 2) * (this.random(1)[0]! / 255), signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      let pending: { eid: string; env: Uint8Array }[] = [];
      let scheduled = false;
      const onPush = (item: { eid: string; env: Uint8Array; ephemeral: boolean }): void => {
        if (item.ephemeral) {
          // Never stored by the relay: open and dispatch, nothing to ack.
          void this.processBatch([item], false).catch(() => undefined);
          return;
        }
        pending.push(item);
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          const batch = pending;
          pending = [];
          // A failure (connection lost mid-batch) leaves the mail unacked: pulled again on reconnect.
          this.processBatch(batch, (eids) => c.ack(eids)).catch((e: unknown) => {
            if (!(e instanceof RelayError)) this.emit('state', { state: 'disconnected', url: this.relayUrl, error: String((e as Error).message) });
          });
        });
      };
      c.on('push', onPush);
      try {
        await this.flushOutbox();
        await this.pullAll(c);
        await this.syncTokens();
        await this.syncPrekeys();
      } catch (e) {
        c.off('push', onPush);
        if (!(e instanceof RelayError)) throw e;
        if (!c.closed) await c.close();
        if (!down) this.emit('state', { state: 'disconnected', url: this.relayUrl, error: e.message });
        down = true;
        continue;
      }
      delay = 200;
      this.emit('state', { state: everConnected ? 'reconnected' : 'connected', url: c.url }); // c.url: a fallback URL when relayUrl did not answer
      everConnected = true;
      down = false;
      await Promise.race([closed, new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })))]);
      c.off('push', onPush);
      if (signal.aborted) break;
      this.emit('state', { state: 'disconnected', url: this.relayUrl, error: 'the connection closed' });
      down = true;
    }
    await this.close();
  }
}

/** Pull pages fetched ahead of the store at most. */
const PULL_AHEAD = 4;
/** Pages (of 500) stored in one transaction at most: 1,000 = one receipt's worth of ids. */
const PAGES_PER_BATCH = 2;

/** Acks any number of envelope ids, MAX_ACK_EIDS per frame (all frames leave at once). */
function ackAll(c: RelayClient, eids: string[]): Promise<unknown> {
  if (eids.length <= MAX_ACK_EIDS) return c.ack(eids);
  const parts: Promise<number>[] = [];
  for (let i = 0; i < eids.length; i += MAX_ACK_EIDS) parts.push(c.ack(eids.slice(i, i + MAX_ACK_EIDS)));
  return Promise.all(parts);
}

function fsRequired(name: string, reason: V1Reason): TrustError {
  const why = reason === 'expired-prekeys' ? `${name}'s published prekeys have expired` : `${name} has published no prekeys (or the relay carries none)`;
  return new TrustError('FORWARD_SECRECY_REQUIRED', `refusing to send to ${name} without forward secrecy: ${why}`, {
    hint: `ask ${name} to run hush pull with a current hush, or drop --require-fs (config requireForwardSecrecy) to send v1`,
  });
}

function keyChanged(name: string): TrustError {
  return new TrustError('KEY_CHANGED', `${name}'s key has changed since you pinned it`, { hint: `verify the new fingerprint with ${name}, then run hush trust ${name}` });
}

/** UsageError EMPTY_MESSAGE / MESSAGE_TOO_LARGE for a UTF-8 body. */
export function checkBody(body: Uint8Array): void {
  if (body.length === 0) throw new UsageError('EMPTY_MESSAGE', 'the message is empty', { hint: 'give the text as arguments or on stdin' });
  if (body.length > MAX_BODY_BYTES) {
    throw new UsageError('MESSAGE_TOO_LARGE', `the message is ${body.length} bytes, the limit is ${MAX_BODY_BYTES} bytes (64 KiB)`, {
      hint: 'split it into smaller messages, or send one message per line with --lines',
    });
  }
}
