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
 * sender queued in the same transaction); receipt -> our sent messages move forward
 * (src/client/receipts.ts); typing -> the 'typing' event only (never stored).
 */
import { EventEmitter } from 'node:events';
import { DataError, HushError, isHushError, RelayError, TrustError, UsageError } from '../errors.js';
import { type Bundle } from '../protocol/bundle.js';
import { bytesEqual, toB64, toHex, utf8 } from '../protocol/encoding.js';
import { envelopeId, MAX_BODY_BYTES } from '../protocol/envelope.js';
import { MAX_ACK_EIDS, MAX_PULL_LIMIT, type MailItem } from '../protocol/frames.js';
import { verifyBundle } from '../crypto/bundle.js';
import { fingerprint } from '../crypto/fingerprint.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes, type Random, signDetached } from '../crypto/nacl.js';
import { type Opened, openInner, openOuter, sealEnvelope, type SharedKeyCache } from '../crypto/seal.js';
import type { Contact, HushStore, NewMessage } from '../store/db.js';
import { RelayClient } from './relay-client.js';
import { applyReceipt, decodeReceipt, type QueuedReceipt, queueReadReceipts, queueReceipts, type ReceiptReport } from './receipts.js';

// --- public types ----------------------------------------------------------------------------

/** A message received and stored (what pull/listen print). */
export interface ReceivedMessage {
  /** The 16-byte message id, hex. */
  id: string;
  from: string;
  to: string;
  /** The sender's timestamp (ms). */
  time: number;
  /** The text (a body that is not valid UTF-8 is shown with U+FFFD replacements). */
  body: string;
}

/** An envelope kept in quarantine instead of being shown. */
export interface QuarantineReport {
  eid: string;
  /** TAMPERED, UNSUPPORTED_VERSION, UNKNOWN_SENDER, KEY_CHANGED, KEY_ALREADY_PINNED */
  reason: string;
  /** The contact name the envelope claims to come from, when known. */
  from?: string;
  /** false when this envelope id was already in quarantine (a re-delivery: not reported again). */
  isNew: boolean;
}

export interface SentReport {
  to: string;
  /** Message id, hex. */
  id: string;
  time: number;
  eid: string;
  /** true when it had been waiting in the outbox from an earlier run. */
  fromOutbox: boolean;
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
}

export interface ProcessResult {
  messages: ReceivedMessage[];
  quarantined: QuarantineReport[];
  /** Already stored before (re-delivery or replay): dropped. */
  duplicates: number;
  /** receipt / typing envelopes (handled, nothing stored in history). */
  ignored: number;
  /** Incoming receipts applied to our sent messages. */
  receipts: ReceiptReport[];
  /** Contacts whose typing envelopes were in the batch. */
  typing: { from: string; time: number }[];
  /** Delivered receipts queued in the batch's transaction (to send after the ack). */
  outgoing: QueuedReceipt[];
  /** Every envelope id that is now safe to ack. */
  ackEids: string[];
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
  /** Send `read` receipts from markRead() (default true; delivered receipts are always sent). */
  readReceipts?: boolean;
}

// --- the shared receive path -----------------------------------------------------------------

/** Looks a sender up on the relay by identity key; undefined when the relay does not know it. */
export type SenderLookup = (signPk: Uint8Array) => Promise<Bundle | undefined>;

interface ProcessOptions {
  /** Our name, for ReceivedMessage.to. */
  myName: string;
  lookup?: SenderLookup;
  onPinned?: (c: Contact) => void;
  cache?: SharedKeyCache;
  now?: () => number;
  /** For sealing delivered receipts (default nacl randomBytes). */
  random?: Random;
}

type Verdict =
  | { t: 'msg'; eid: string; contact: Contact; opened: Opened }
  | { t: 'control'; eid: string; contact: Contact; opened: Opened }
  | { t: 'ignored'; eid: string }
  | { t: 'quarantine'; eid: string; env: Uint8Array; reason: string; senderSignPk?: Uint8Array; from?: string };

const KEY_B64 = (k: Uint8Array): string => toB64(k);
const lossy = new TextDecoder('utf-8');
const strict = new TextDecoder('utf-8', { fatal: true });

function bodyOf(bytes: Uint8Array): string | Uint8Array {
  try {
    return strict.decode(bytes);
  } catch {
    return bytes; // kept as bytes; shown lossily
  }
}

async function resolveSender(store: HushStore, senderSignPk: Uint8Array, o: ProcessOptions, seen: Map<string, Bundle | undefined>): Promise<Contact | { reason: string; from?: string }> {
  const known = store.findContactBySignPk(senderSignPk);
  if (known) return known.state === 'changed' ? { reason: 'KEY_CHANGED', from: known.name } : known;
  const pending = store.findContactByPendingSignPk(senderSignPk);
  if (pending) return { reason: 'KEY_CHANGED', from: pending.name };
  if (!o.lookup) return { reason: 'UNKNOWN_SENDER' };
  const k = KEY_B64(senderSignPk);
  let bundle: Bundle | undefined;
  if (seen.has(k)) bundle = seen.get(k);
  else {
    bundle = await o.lookup(senderSignPk);
    seen.set(k, bundle);
  }
  if (!bundle || !bytesEqual(bundle.signPk, senderSignPk)) return { reason: 'UNKNOWN_SENDER' };
  try {
    verifyBundle(bundle);
  } catch {
    return { reason: 'UNKNOWN_SENDER' };
  }
  const byName = store.findContactByName(bundle.name);
  if (byName) {
    // The name is pinned with another key: the same situation as `send` meeting a changed key.
    store.recordKeyChange(byName.id, bundle);
    return { reason: 'KEY_CHANGED', from: byName.name };
  }
  try {
    const r = store.pinContact(bundle);
    if (r.status === 'new') o.onPinned?.(r.contact);
    return r.contact.state === 'changed' ? { reason: 'KEY_CHANGED', from: r.contact.name } : r.contact;
  } catch (e) {
    if (e instanceof TrustError) return { reason: e.code, from: bundle.name };
    throw e;
  }
}

/** Per batch: what each sender key resolved to (one contact lookup per sender, not per envelope). */
type SenderMemo = Map<string, Contact | { reason: string; from?: string }>;

async function judge(store: HushStore, me: Identity, item: { eid: string; env: Uint8Array }, o: ProcessOptions, seen: Map<string, Bundle | undefined>, senders: SenderMemo): Promise<Verdict> {
  const q = (reason: string, extra: { senderSignPk?: Uint8Array; from?: string } = {}): Verdict => ({ t: 'quarantine', eid: item.eid, env: item.env, reason, ...extra });
  let outer;
  try {
    outer = openOuter(me, item.env);
  } catch (e) {
    return q(isHushError(e) && e.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
  }
  const senderSignPk = new Uint8Array(outer.senderSignPk);
  const memoKey = toHex(senderSignPk);
  let sender = senders.get(memoKey);
  if (sender === undefined) {
    sender = await resolveSender(store, senderSignPk, o, seen);
    senders.set(memoKey, sender);
  }
  if (!('id' in sender)) return q(sender.reason, { senderSignPk, ...(sender.from === undefined ? {} : { from: sender.from }) });
  let opened: Opened;
  try {
    opened = openInner(me, outer, sender, o.cache);
  } catch {
    return q('TAMPERED', { senderSignPk, from: sender.name });
  }
  // Dispatch on kind: receipt / typing are control envelopes (never stored, never answered).
  switch (opened.kind) {
    case 'msg':
      return { t: 'msg', eid: item.eid, contact: sender, opened };
    case 'receipt':
    case 'typing':
      return { t: 'control', eid: item.eid, contact: sender, opened };
  }
}

/**
 * Opens a batch of received envelopes and stores it (messages and quarantine) in ONE
 * transaction. Does not ack: the caller acks `ackEids` after this returns. Duplicates (same
 * message id, or an envelope id already quarantined) are not reported again.
 */
export async function processEnvelopes(store: HushStore, identity: Identity, items: readonly { eid: string; env: Uint8Array }[], o: ProcessOptions): Promise<ProcessResult> {
  const seen = new Map<string, Bundle | undefined>();
  const senders: SenderMemo = new Map();
  const verdicts: Verdict[] = [];
  for (const item of items) verdicts.push(await judge(store, identity, item, o, seen, senders));
  const now = o.now ?? Date.now;
  const res: ProcessResult = { messages: [], quarantined: [], duplicates: 0, ignored: 0, receipts: [], typing: [], outgoing: [], ackEids: items.map((i) => i.eid) };
  const sealCtx = { identity, random: o.random ?? randomBytes, now, ...(o.cache ? { cache: o.cache } : {}) };
  store.transaction(() => {
    const msgs = verdicts.filter((v): v is Extract<Verdict, { t: 'msg' }> => v.t === 'msg');
    const fresh = store.addMessages(
      msgs.map((v): NewMessage => ({ msgId: v.opened.id, contactId: v.contact.id, direction: 'in', time: v.opened.time, body: bodyOf(v.opened.body), receivedAt: now() })),
    );
    msgs.forEach((v, i) => {
      if (!fresh[i]) {
        res.duplicates++;
        return;
      }
      res.messages.push({ id: toHex(v.opened.id), from: v.contact.name, to: o.myName, time: v.opened.time, body: lossy.decode(v.opened.body) });
    });
    // One delivered receipt per sender for the new messages, committed with them.
    const delivered = new Map<number, { contact: Contact; ids: Uint8Array[] }>();
    msgs.forEach((v, i) => {
      if (!fresh[i]) return;
      const d = delivered.get(v.contact.id) ?? { contact: v.contact, ids: [] };
      d.ids.push(v.opened.id);
      delivered.set(v.contact.id, d);
    });
    for (const d of delivered.values()) res.outgoing.push(...queueReceipts(store, sealCtx, d.contact, 'delivered', d.ids));
    for (const v of verdicts) {
      if (v.t === 'ignored') res.ignored++;
      if (v.t === 'control') {
        res.ignored++;
        if (v.opened.kind === 'typing') res.typing.push({ from: v.contact.name, time: v.opened.time });
        else {
          try {
            res.receipts.push(applyReceipt(store, v.contact, decodeReceipt(v.opened.body)));
          } catch (e) {
            if (!(e instanceof DataError)) throw e;
            res.receipts.push({ from: v.contact.name, type: 'delivered', ids: [], ignored: 1 }); // malformed: ignored
          }
        }
      }
      if (v.t !== 'quarantine') continue;
      const r = store.quarantine({ eid: v.eid, envelope: v.env, reason: v.reason, ...(v.senderSignPk ? { senderSignPk: v.senderSignPk } : {}), receivedAt: now() });
      if (!r.isNew) res.duplicates++;
      res.quarantined.push({ eid: v.eid, reason: v.reason, isNew: r.isNew, ...(v.from === undefined ? {} : { from: v.from }) });
    }
  });
  return res;
}

/**
 * Re-opens the quarantined mail of `contact` (whose key the user just accepted or trusted,
 * e.g. by `hush trust NAME` after store.acceptNewKey). Entries are matched by the sender key
 * recorded at quarantine time; each one that now opens is stored as a received message and
 * leaves the quarantine in the same transaction. Offline: no relay is needed.
 * Returns the newly shown messages and how many of the contact's entries are still kept.
 */
export function reprocessQuarantine(store: HushStore, identity: Identity, contact: Contact, myName = ''): { opened: ReceivedMessage[]; remaining: number } {
  const current = store.getContact(contact.id) ?? contact;
  const entries = store.listQuarantine({ senderSignPk: current.signPk });
  const opened: ReceivedMessage[] = [];
  let remaining = 0;
  if (current.state === 'changed') return { opened, remaining: entries.length };
  store.transaction(() => {
    for (const e of entries) {
      let o: Opened;
      try {
        const outer = openOuter(identity, e.envelope);
        o = openInner(identity, outer, current);
      } catch {
        remaining++;
        continue;
      }
      if (o.kind === 'msg') {
        const isNew = store.addMessage({ msgId: o.id, contactId: current.id, direction: 'in', time: o.time, body: bodyOf(o.body), receivedAt: e.receivedAt });
        if (isNew) opened.push({ id: toHex(o.id), from: current.name, to: myName, time: o.time, body: lossy.decode(o.body) });
      }
      store.removeQuarantine(e.id);
    }
  });
  return { opened, remaining };
}

// --- the messenger ---------------------------------------------------------------------------

const RETRYABLE_SEND = new Set(['RATE_LIMITED']);
/** Connection-level failures: give up on this connection (the rest stays in the outbox). */
const CONNECTION_CODES = new Set(['RELAY_CLOSED', 'RELAY_TIMEOUT', 'RELAY_UNREACHABLE', 'SHUTTING_DOWN', 'RELAY_PROTOCOL']);
/** Failures on connect that retrying will not fix. */
const FATAL_CONNECT = new Set(['AUTH_WRONG_URL', 'AUTH_FAILED', 'AUTH_STALE', 'RELAY_PROTOCOL', 'BAD_RELAY_URL']);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

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
  private readonly window: number;
  private readonly now: () => number;
  private readonly random: Random;
  private readonly timeoutMs: number | undefined;
  private readonly afterStore: (() => void) | undefined;
  private readonly readReceipts: boolean;
  private readonly cache: SharedKeyCache = new Map();
  private conn: RelayClient | undefined;
  private connecting: Promise<RelayClient> | undefined;
  /** A failed connect is remembered (send/pull do not dial again); listen clears it per attempt. */
  private connectFailure: RelayError | undefined;
  /** Serialises received-batch processing (pull batches and pushes). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(o: MessengerOptions) {
    super();
    this.identity = o.identity;
    this.name = o.name;
    this.store = o.store;
    this.relayUrl = o.relayUrl;
    this.window = Math.max(1, o.window ?? 256);
    this.now = o.now ?? Date.now;
    this.random = o.random ?? randomBytes;
    this.timeoutMs = o.timeoutMs;
    this.afterStore = o.afterStore;
    this.readReceipts = o.readReceipts ?? true;
  }

  /** The open connection (connecting and authenticating on first use). */
  async client(): Promise<RelayClient> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.connectFailure) throw this.connectFailure;
    this.connecting ??= RelayClient.connect(this.relayUrl, {
      signPk: this.identity.signPk,
      sign: (m) => signDetached(m, this.identity.signSk),
      ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }),
    })
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
  }

  /** Publishes our bundle under our name (idempotent for the same key). */
  async register(bundle: Bundle): Promise<void> {
    await (await this.client()).register(bundle);
  }

  // --- sending -------------------------------------------------------------------------------

  /**
   * The contact to seal to (TOFU, docs/SECURITY.md): pinned contacts, checked against the relay's
   * directory when it answers. TOFU-pins an unknown name (event 'pinned'). Throws TrustError
   * KEY_CHANGED (after recording the change) when the relay serves another identity key for a
   * pinned name or the contact is already 'changed'; UsageError UNKNOWN_RECIPIENT when nobody
   * has the name; RelayError when the relay is unreachable and the name is not pinned.
   * With the relay unreachable and the name pinned, returns the pinned contact.
   */
  async resolveRecipient(name: string): Promise<Contact> {
    let contact = this.store.findContactByName(name);
    if (contact?.state === 'changed') throw keyChanged(name);
    let bundle: Bundle | undefined;
    try {
      bundle = await (await this.client()).lookup({ name });
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
      throw new TrustError('BUNDLE_NAME_MISMATCH', `the relay answered for ${name} with a key bundle named ${bundle.name}`, { hint: 'the relay may be misbehaving; do not trust it' });
    }
    if (contact) {
      // Same identity key and box key: fine. Anything else is treated as a key change (a new
      // box key under the same identity key too: conservative, the user confirms with hush trust).
      if (bytesEqual(contact.signPk, bundle.signPk) && bytesEqual(contact.boxPk, bundle.boxPk)) return contact;
      this.store.recordKeyChange(contact.id, bundle);
      throw keyChanged(name);
    }
    const r = this.store.pinContact(bundle);
    contact = r.contact;
    if (r.status === 'new') this.emit('pinned', { name: contact.name, fingerprint: fingerprint(contact.signPk) });
    else if (r.status === 'changed') throw keyChanged(name);
    return contact;
  }

  /**
   * Seals each text to `contact` and stores all of them (history, status 'queued', and the
   * outbox) in ONE transaction. Nothing is sent yet. Checks size and emptiness.
   */
  queueMessages(contact: Contact, texts: readonly string[]): QueuedMessage[] {
    const prepared = texts.map((text) => {
      const body = utf8(text);
      checkBody(body);
      const msgId = this.random(16);
      const time = this.now();
      const envelope = sealEnvelope(this.identity, contact, { kind: 'msg', id: msgId, time, body }, this.random, this.cache);
      return { text, msgId, time, envelope, eid: envelopeId(envelope) };
    });
    this.store.transaction(() => {
      this.store.addMessages(prepared.map((p) => ({ msgId: p.msgId, contactId: contact.id, direction: 'out', time: p.time, body: p.text, status: 'queued', receivedAt: p.time })));
      for (const p of prepared) this.store.enqueueOutbox({ eid: p.eid, contactId: contact.id, envelope: p.envelope, msgId: p.msgId, createdAt: p.time });
    });
    return prepared.map((p) => ({ eid: p.eid, envelope: p.envelope, msgId: p.msgId, contactId: contact.id, to: contact.name, toSignPk: contact.signPk, time: p.time, fromOutbox: false }));
  }

  /** A pipelined sender on the current connection (see SendPipeline). */
  sendPipeline(): SendPipeline {
    return new SendPipeline(this, this.window);
  }

  /** Sends everything waiting in the outbox (oldest first, pipelined). Never throws for refusals. */
  async flushOutbox(): Promise<DrainResult> {
    const entries = this.store.listOutbox();
    if (entries.length === 0) return { sent: 0, failed: [] };
    const pipe = this.sendPipeline();
    for (const e of entries) {
      const c = this.store.getContact(e.contactId);
      if (!c) continue;
      const m = this.store.findMessage(e.msgId, 'out');
      // No message row with that id: a receipt waiting in the outbox.
      await pipe.submit({ eid: e.eid, envelope: e.envelope, msgId: e.msgId, contactId: e.contactId, to: c.name, toSignPk: c.signPk, time: m?.time ?? e.createdAt, fromOutbox: true, ...(m ? {} : { control: true }) });
    }
    return pipe.drain();
  }

  /** @internal used by SendPipeline */
  reportSent(q: QueuedMessage): void {
    if (q.control) return;
    this.emit('sent', { to: q.to, id: toHex(q.msgId), time: q.time, eid: q.eid, fromOutbox: q.fromOutbox });
  }

  // --- receiving -----------------------------------------------------------------------------

  /**
   * Opens, stores (one transaction) and then acks one batch; emits 'message' / 'quarantined'.
   * With `later`, the ack and the delivered receipts are STARTED after the commit (in that
   * order) but not awaited: their promises go into `later` for the caller to await, so the
   * next batch can be opened while they travel (pull). Without it, both are awaited.
   */
  async processBatch(items: readonly Pick<MailItem, 'eid' | 'env'>[], ack: boolean | ((eids: string[]) => Promise<unknown>) = true, later?: Promise<unknown>[]): Promise<ProcessResult> {
    const run = async (): Promise<ProcessResult> => {
      const res = await processEnvelopes(this.store, this.identity, items, {
        myName: this.name,
        lookup: (signPk) => this.lookupSender(signPk),
        onPinned: (c) => this.emit('pinned', { name: c.name, fingerprint: fingerprint(c.signPk) }),
        cache: this.cache,
        now: this.now,
        random: this.random,
      });
      for (const m of res.messages) this.emit('message', m);
      for (const q of res.quarantined) if (q.isNew) this.emit('quarantined', q);
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
        if (res.outgoing.length > 0) later.push(this.sendQueued(res.outgoing)); // failures wait in the outbox
        return res;
      }
      if (typeof ack === 'function') await ack(res.ackEids);
      else if (ack) await (await this.client()).ack(res.ackEids);
      if (res.outgoing.length > 0) await this.sendQueued(res.outgoing); // failures wait in the outbox
      return res;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Sends already-queued envelopes now (best effort: what fails stays in the outbox). */
  private async sendQueued(list: readonly QueuedMessage[]): Promise<DrainResult> {
    const pipe = this.sendPipeline();
    for (const q of list) await pipe.submit(q);
    return pipe.drain();
  }

  /**
   * The user has now seen these incoming messages (pull/listen printed them, chat showed
   * them): marks them read and, unless read receipts are off, queues and sends one `read`
   * receipt per sender (through the outbox: nothing is lost when the relay is down).
   */
  async markRead(messages: readonly Pick<ReceivedMessage, 'id'>[]): Promise<void> {
    if (messages.length === 0) return;
    const ids = messages.map((m) => Uint8Array.from(Buffer.from(m.id, 'hex')));
    const queued = queueReadReceipts(this.store, { identity: this.identity, random: this.random, now: this.now, cache: this.cache }, ids, this.readReceipts);
    if (queued.length === 0) return;
    const run = async (): Promise<void> => {
      await this.sendQueued(queued).catch(() => undefined);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    await p;
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
    return { result, outbox };
  }

  private async pullAll(c: RelayClient): Promise<ProcessResult> {
    const total: ProcessResult = { messages: [], quarantined: [], duplicates: 0, ignored: 0, receipts: [], typing: [], outgoing: [], ackEids: [] };
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
        total.quarantined.push(...r.quarantined.filter((q) => q.isNew));
        total.duplicates += r.duplicates;
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
      } catch (e) {
        c.off('push', onPush);
        if (!(e instanceof RelayError)) throw e;
        if (!c.closed) await c.close();
        if (!down) this.emit('state', { state: 'disconnected', url: this.relayUrl, error: e.message });
        down = true;
        continue;
      }
      delay = 200;
      this.emit('state', { state: everConnected ? 'reconnected' : 'connected', url: this.relayUrl });
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

/**
 * Pipelined sends over the messenger's connection: submit() starts at once while fewer than
 * `window` sends are in flight (else it waits for a slot); drain() waits for all. Each accepted
 * envelope leaves the outbox and its message becomes 'sent' (completions are committed in small
 * transactions). RATE_LIMITED is retried after a pause; a refusal leaves the message in the
 * outbox and is reported by drain(); after a connection failure the rest is not tried.
 */
export class SendPipeline {
  private inflight = 0;
  private readonly slots: (() => void)[] = [];
  private readonly tasks: Promise<void>[] = [];
  private readonly failed: SendFailure[] = [];
  private sent = 0;
  private broken: RelayError | undefined;
  private pauseUntil = 0;
  private completions: QueuedMessage[] = [];
  private completing: Promise<void> | undefined;

  constructor(
    private readonly m: Messenger,
    private readonly window: number,
  ) {}

  /** Resolves once the send has STARTED (back-pressure for streaming input). */
  async submit(q: QueuedMessage): Promise<void> {
    while (this.inflight >= this.window) await new Promise<void>((r) => this.slots.push(r));
    this.inflight++;
    const t = this.sendOne(q).finally(() => {
      this.inflight--;
      this.slots.shift()?.();
    });
    this.tasks.push(t);
  }

  async drain(): Promise<DrainResult> {
    while (this.tasks.length > 0) await Promise.all(this.tasks.splice(0));
    await this.flushCompletions();
    return { sent: this.sent, failed: [...this.failed] };
  }

  private async sendOne(q: QueuedMessage): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.broken) return this.fail(q, this.broken, false);
      const wait = this.pauseUntil - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        const c = await this.m.client();
        await c.send(q.toSignPk, q.envelope);
        this.completions.push(q);
        this.scheduleCompletions();
        return;
      } catch (e) {
        const err = e instanceof HushError ? e : new DataError('SEND_FAILED', String((e as Error)?.message ?? e));
        if (err instanceof RelayError && RETRYABLE_SEND.has(err.code) && attempt < 200) {
          this.pauseUntil = Math.max(this.pauseUntil, Date.now() + 100 + Math.min(attempt, 10) * 50);
          continue;
        }
        if (err instanceof RelayError && CONNECTION_CODES.has(err.code)) this.broken ??= err;
        return this.fail(q, err, true);
      }
    }
  }

  private fail(q: QueuedMessage, error: HushError, bump: boolean): void {
    if (bump) {
      try {
        this.m.store.bumpAttempts(q.eid);
      } catch {
        // counting attempts is best effort
      }
    }
    this.failed.push({ eid: q.eid, to: q.to, error });
  }

  private scheduleCompletions(): void {
    if (this.completing) return;
    this.completing = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.completing = undefined;
        this.flushCompletionsSync();
        resolve();
      }),
    );
  }

  private flushCompletionsSync(): void {
    const batch = this.completions;
    this.completions = [];
    if (batch.length === 0) return;
    this.m.store.transaction(() => {
      for (const q of batch) this.m.store.completeOutbox(q.eid);
    });
    for (const q of batch) {
      if (!q.control) this.sent++; // receipts are not counted as messages
      this.m.reportSent(q);
    }
  }

  private async flushCompletions(): Promise<void> {
    if (this.completing) await this.completing;
    this.flushCompletionsSync();
  }
}
