/**
 * The receive path's judgement (docs/PROTOCOL.md §5.3, docs/SECURITY.md "What unauthenticated
 * input may change"): every received envelope is opened, AUTHENTICATED, and only then allowed
 * to change anything. The rule, in order:
 *
 * 1. The outer layer opens (else TAMPERED / UNSUPPORTED_VERSION).
 * 2. The inner layer names a sender key. It is only a CLAIM. The key's box key is found without
 *    writing anything: the pinned contact with that key, a contact's pending (changed) key, or the
 *    relay's signed bundle for the key (a read-only lookup).
 * 3. The inner box must open with that box key (a static-static DH only the key's owner and we
 *    can compute). If it does not: TAMPERED, quarantined with the claimed key, and NOTHING else
 *    happens: no pin, no key change, no receipt applied, no typing shown.
 * 4. Authenticated mail from a pinned key is delivered (even while a new key waits for the
 *    user: the pinned key is still the trusted one). Authenticated mail from a pending key or a
 *    refused key is quarantined (KEY_CHANGED / REJECTED_KEY). Authenticated mail from a key the
 *    relay names: the first message pins it (TOFU) — as a new contact, or as a separate
 *    identity `name@host:port` when the name is pinned from ANOTHER relay; when the name is
 *    pinned from THIS relay with another key, that is the one real "key changed" signal: it is
 *    recorded as pending (the pinned key stays, verified or not) and the mail is quarantined.
 *    Receipts and typing from a key that is not a contact change nothing.
 *
 * A batch is stored in ONE transaction (messages, receipts applied, delivered receipts queued
 * for contacts that are not strangers, quarantine); the caller acks after it. Within a batch, each sender's messages are stored in
 * the order of their (strictly increasing) send times.
 */
import { DataError, isHushError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { bytesEqual, toB64, toHex } from '../protocol/encoding.js';
import { verifyBundle } from '../crypto/bundle.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes, type Random } from '../crypto/nacl.js';
import { type Opened, openInner, openOuter, type OuterOpened, type Peer, type SharedKeyCache } from '../crypto/seal.js';
import { type Contact, DEFAULT_QUARANTINE_LIMITS, type HushStore, type NewMessage, type QuarantineLimits } from '../store/db.js';
import { openEnvelopeV2 } from '../crypto/envelope-v2.js';
import { DEFAULT_OPEN_LIMITS, innerSender, type OpenLimits } from '../crypto/session.js';
import type { RatchetLimits } from '../crypto/ratchet.js';
import { ENVELOPE_V2_VERSION } from '../protocol/session-wire.js';
import { isDuplicate, SessionBook } from './sessions.js';
import type { OuterLayer } from './outer-open.js';
import type { AheadOpened } from './ahead-ratchet.js';
import { storeHeldToken } from './delivery-tokens.js';
import { applyGroupMessage, type GroupEvent, type GroupQuarantineReason, inEpochOrder } from './groups.js';
import { applyReceipt, decodeReceipt, type PendingReceipts, type QueuedReceipt, queueReceipts, type ReceiptDelay, type ReceiptReport, receiptsAllowed } from './receipts.js';

/** A message received and stored (what pull/listen print). */
export interface ReceivedMessage {
  /** The 16-byte message id, hex (chosen by the sender; the same on both sides). */
  id: string;
  /** The contact's label (its name, or name@host:port for a second contact of that name). */
  from: string;
  to: string;
  /** The sender's timestamp (ms). */
  time: number;
  /** The text (a body that is not valid UTF-8 is shown with U+FFFD replacements). */
  body: string;
}

/** Why an envelope was kept in quarantine instead of being shown (docs/PROTOCOL.md §8.1). */
export type QuarantineReason =
  | 'TAMPERED'
  | 'UNSUPPORTED_VERSION'
  | 'UNKNOWN_SENDER'
  | 'KEY_CHANGED'
  | 'REJECTED_KEY'
  | 'FROM_SELF'
  | 'NO_FORWARD_SECRECY'
  | 'DOWNGRADE'
  | 'TOO_MANY_SKIPPED'
  | 'PREKEY_EXPIRED'
  | GroupQuarantineReason;

/** An envelope kept in quarantine instead of being shown. Never names a trusted sender. */
export interface QuarantineReport {
  eid: string;
  reason: QuarantineReason;
  /** The sender key the envelope claims (base64), when its outer layer opened. */
  claimedKey?: string;
  /** true when the envelope authenticated under `claimedKey` (KEY_CHANGED, REJECTED_KEY, FROM_SELF). */
  authenticated: boolean;
  /** The contact label the authenticated key claims to be (KEY_CHANGED, REJECTED_KEY). */
  claimedName?: string;
  /** false when this envelope id was already in quarantine (a re-delivery: not reported again). */
  isNew: boolean;
  /** A group message: our name for its group, when we hold it (EPOCH_GAP). */
  group?: string;
}

export interface ProcessResult {
  messages: ReceivedMessage[];
  quarantined: QuarantineReport[];
  /** Quarantined entries dropped to keep the quarantine within its limits. */
  quarantineDropped: number;
  /** Already stored before (re-delivery or replay): dropped. */
  duplicates: number;
  /** receipt / typing envelopes, and control mail from non-contacts (nothing stored in history). */
  ignored: number;
  /** Incoming receipts applied to our sent messages. */
  receipts: ReceiptReport[];
  /** Group posts and membership changes applied (src/client/groups.ts). */
  groups: GroupEvent[];
  /** Contacts whose typing envelopes were in the batch. */
  typing: { from: string; time: number }[];
  /** Delivered receipts queued in the batch's transaction (sent after the ack once due). */
  outgoing: QueuedReceipt[];
  /** Every envelope id that is now safe to ack. */
  ackEids: string[];
  /**
   * The rows this batch stored: every message row with `after < id <= last` is one of
   * `messages`, in that order (the batch's transaction held the write lock: no other process
   * wrote in between). Absent when the batch stored no message.
   */
  stored?: { after: number; last: number };
}

/** A ProcessResult with nothing in it yet (the acks it will send: `ackEids`). */
export function emptyProcessResult(ackEids: string[] = []): ProcessResult {
  return { messages: [], quarantined: [], quarantineDropped: 0, duplicates: 0, ignored: 0, receipts: [], groups: [], typing: [], outgoing: [], ackEids };
}

/**
 * A received envelope; `outer`: its v2 outer layer, when it was opened ahead (src/client/outer-open.ts);
 * `ahead`: its ratchet layer opened ahead there too, taken only when it is the step the session takes now.
 */
export interface InboundItem {
  eid: string;
  env: Uint8Array;
  outer?: OuterLayer;
  ahead?: AheadOpened;
}

/** Looks a sender up on the relay by identity key; undefined when the relay does not know it. */
export type SenderLookup = (signPk: Uint8Array) => Promise<Bundle | undefined>;

export interface ProcessOptions {
  /** Our name, for ReceivedMessage.to. */
  myName: string;
  /** Canonical URL of the relay the mail came from (names are what this relay says). */
  relay?: string;
  lookup?: SenderLookup;
  onPinned?: (c: Contact) => void;
  cache?: SharedKeyCache;
  now?: () => number;
  /** For sealing delivered receipts (default nacl randomBytes). */
  random?: Random;
  /** Queue `delivered` receipts (default true; never to strangers, src/client/receipts.ts). */
  deliveryReceipts?: boolean;
  /** Bounds of the random wait before those receipts may leave (default DEFAULT_RECEIPT_DELAY). */
  receiptDelay?: ReceiptDelay;
  /** Receipts still waiting, to coalesce with (src/client/receipts.ts PendingReceipts). */
  pendingReceipts?: PendingReceipts;
  quarantineLimits?: QuarantineLimits;
  /** Bounds of the v2 skipped message keys (--ratchet-limits; default DEFAULT_RATCHET_LIMITS). */
  ratchetLimits?: RatchetLimits;
  /** How long a replaced signed prekey still starts sessions (config signedPrekeyGrace; default DEFAULT_SPK_GRACE_MS). */
  spkGraceMs?: number;
  /** Refuse v1 mail (config requireForwardSecrecy / --require-fs): quarantined as NO_FORWARD_SECRECY. */
  requireForwardSecrecy?: boolean;
}

type Verdict =
  | { t: 'msg'; eid: string; contact: Contact; opened: Opened }
  | { t: 'control'; eid: string; contact: Contact; opened: Opened }
  | { t: 'ignored'; eid: string }
  /** A v2 message whose key was already used (a replay or re-delivery): dropped, acked. */
  | { t: 'duplicate'; eid: string }
  | { t: 'quarantine'; eid: string; env: Uint8Array; reason: QuarantineReason; claimed?: Uint8Array; authenticated: boolean; claimedName?: string; group?: string };

/** What a claimed sender key resolves to, found without writing anything. */
type Candidate =
  | { k: 'self' }
  | { k: 'contact'; contact: Contact }
  | { k: 'pending'; contact: Contact; bundle: Bundle }
  | { k: 'rejected'; contact: Contact; bundle?: Bundle }
  | { k: 'stranger'; bundle: Bundle }
  | { k: 'unknown' };

const lossy = new TextDecoder('utf-8');
const strict = new TextDecoder('utf-8', { fatal: true });

export function bodyOf(bytes: Uint8Array): string | Uint8Array {
  try {
    return strict.decode(bytes);
  } catch {
    return bytes; // kept as bytes; shown lossily
  }
}

export function bodyText(body: string | Uint8Array): string {
  return typeof body === 'string' ? body : lossy.decode(body);
}

class Judge {
  private readonly bundles = new Map<string, Bundle | undefined>();
  private readonly candidates = new Map<string, Candidate>();

  constructor(
    private readonly store: HushStore,
    private readonly me: Identity,
    private readonly o: ProcessOptions,
    /** The batch's v2 sessions, committed with its messages (src/client/sessions.ts). */
    readonly book: SessionBook,
  ) {}

  private async bundleOf(signPk: Uint8Array): Promise<Bundle | undefined> {
    if (!this.o.lookup) return undefined;
    const k = toB64(signPk);
    if (this.bundles.has(k)) return this.bundles.get(k);
    let b = await this.o.lookup(signPk);
    if (b && !bytesEqual(b.signPk, signPk)) b = undefined;
    if (b) {
      try {
        verifyBundle(b);
      } catch {
        b = undefined;
      }
    }
    this.bundles.set(k, b);
    return b;
  }

  private async candidate(claimed: Uint8Array): Promise<Candidate> {
    const key = toHex(claimed);
    const memo = this.candidates.get(key);
    if (memo) return memo;
    let c: Candidate;
    if (bytesEqual(claimed, this.me.signPk)) c = { k: 'self' };
    else {
      const known = this.store.findContactBySignPk(claimed);
      const pending = known ? undefined : this.store.findContactByPendingSignPk(claimed);
      const refused = known || pending ? undefined : this.store.listContacts().find((x) => x.rejected?.some((r) => bytesEqual(r, claimed)));
      if (known) c = { k: 'contact', contact: known };
      else if (pending) c = { k: 'pending', contact: pending, bundle: pending.pendingBundle! };
      else {
        const b = await this.bundleOf(claimed);
        if (refused) c = b ? { k: 'rejected', contact: refused, bundle: b } : { k: 'rejected', contact: refused };
        else c = b ? { k: 'stranger', bundle: b } : { k: 'unknown' };
      }
    }
    this.candidates.set(key, c);
    return c;
  }

  async judge(item: InboundItem): Promise<Verdict> {
    const q = (reason: QuarantineReason, claimed?: Uint8Array, authenticated = false, claimedName?: string): Verdict => ({
      t: 'quarantine',
      eid: item.eid,
      env: item.env,
      reason,
      authenticated,
      ...(claimed ? { claimed } : {}),
      ...(claimedName === undefined ? {} : { claimedName }),
    });
    if (item.env[0] === ENVELOPE_V2_VERSION) return this.judgeV2(item, q);
    let outer: OuterOpened;
    try {
      outer = openOuter(this.me, item.env);
    } catch (e) {
      return q(isHushError(e) && e.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
    }
    const claimed = new Uint8Array(outer.senderSignPk);
    const c = await this.candidate(claimed);
    const open = (peer: Peer): Opened | undefined => {
      try {
        return openInner(this.me, outer, peer, this.o.cache);
      } catch {
        return undefined;
      }
    };
    switch (c.k) {
      case 'unknown':
        return q('UNKNOWN_SENDER', claimed);
      case 'self':
        return open(this.me) ? q('FROM_SELF', claimed, true) : q('TAMPERED', claimed);
      case 'contact': {
        const opened = open(c.contact);
        if (!opened) return q('TAMPERED', claimed);
        if (this.o.requireForwardSecrecy) return q('NO_FORWARD_SECRECY', claimed, true, c.contact.label);
        // v1 from a contact that has sent us v2: a v2 sender with a session never seals v1, and
        // v1's inner box opens with OUR box key as well as the sender's, so a copy of our
        // keyring could have made it (key-compromise impersonation, docs/SECURITY.md).
        // Not authenticated as the contact, then: kept, never shown.
        if (this.book.heardV2From(c.contact)) return q('DOWNGRADE', claimed, false, c.contact.label);
        return { t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact: c.contact, opened };
      }
      case 'pending':
        return open(c.bundle) ? q('KEY_CHANGED', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'rejected':
        return c.bundle && open(c.bundle) ? q('REJECTED_KEY', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'stranger': {
        const opened = open(c.bundle);
        if (!opened) return q('TAMPERED', claimed);
        // Authenticated. Control mail from a stranger changes nothing (a group message may
        // pin it like a message: its group membership is judged next, §10.3).
        if (opened.kind !== 'msg' && opened.kind !== 'group') return { t: 'ignored', eid: item.eid };
        if (this.o.requireForwardSecrecy) return q('NO_FORWARD_SECRECY', claimed, true, c.bundle.name); // not pinned either
        return this.firstContact(item, c.bundle, claimed, opened, q);
      }
    }
  }

  /**
   * A v2 envelope: the same rule as v1, with the session as the authenticator. A message from
   * a contact opens in a session held with it (a prekey message may start one); from a key the
   * relay names, only a prekey message can authenticate, and its session is kept only once the
   * key is pinned. A message key already used (a replay, even into a wiped history) is a
   * duplicate: dropped, never shown.
   */
  private async judgeV2(item: InboundItem, q: (r: QuarantineReason, k?: Uint8Array, a?: boolean, n?: string) => Verdict): Promise<Verdict> {
    let inner: Uint8Array;
    let claimed: Uint8Array;
    try {
      // Opened ahead on the pull's second thread (src/client/outer-open.ts), or here.
      if (item.outer === 'TAMPERED') return q('TAMPERED');
      inner = item.outer instanceof Uint8Array ? item.outer : openEnvelopeV2(this.me.boxSk, item.env);
      claimed = new Uint8Array(innerSender(inner));
    } catch (e) {
      return q(isHushError(e) && e.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
    }
    const c = await this.candidate(claimed);
    const verdict = (contact: Contact, opened: Opened): Verdict => ({ t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact, opened });
    // A gap beyond max-skip is refused before authenticating (the header is not yet trusted):
    // kept with its reason, no state changed; the session opens the next message within the cap.
    // A prekey message whose signed prekey was replaced longer than the grace period ago is
    // kept as PREKEY_EXPIRED (it may be mail that waited that long, or a replay): the sender
    // learns nothing, so the user must be told, not the message dropped.
    const failed = (e: unknown): Verdict =>
      isDuplicate(e)
        ? { t: 'duplicate', eid: item.eid }
        : q(e instanceof DataError && (e.code === 'TOO_MANY_SKIPPED' || e.code === 'PREKEY_EXPIRED') ? e.code : 'TAMPERED', claimed);
    const detached = (peer: { signPk: Uint8Array; boxPk: Uint8Array }): ReturnType<SessionBook['openDetached']> | undefined => {
      try {
        return this.book.openDetached(peer, inner);
      } catch {
        return undefined;
      }
    };
    switch (c.k) {
      case 'unknown':
        return q('UNKNOWN_SENDER', claimed);
      case 'self':
        return q('TAMPERED', claimed); // we never hold a session with ourselves
      case 'contact':
        try {
          return verdict(c.contact, this.book.open(c.contact, inner, item.ahead));
        } catch (e) {
          return failed(e);
        }
      case 'pending':
        return detached(c.bundle) ? q('KEY_CHANGED', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'rejected':
        return c.bundle && detached(c.bundle) ? q('REJECTED_KEY', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'stranger': {
        const d = detached(c.bundle);
        if (!d) return q('TAMPERED', claimed);
        if (d.opened.kind !== 'msg' && d.opened.kind !== 'group') return { t: 'ignored', eid: item.eid };
        const v = this.firstContact(item, c.bundle, claimed, d.opened, q);
        if (v.t === 'msg' || v.t === 'control') d.adopt(v.contact);
        return v;
      }
    }
  }

  /** An authenticated first message from a key the relay names: pin it, or record a key change. */
  private firstContact(
    item: { eid: string },
    bundle: Bundle,
    claimed: Uint8Array,
    opened: Opened,
    q: (r: QuarantineReason, k?: Uint8Array, a?: boolean, n?: string) => Verdict,
  ): Verdict {
    // Someone else's key named like us is labelled name@host: never shown as our own name.
    const r = this.store.pinContact(bundle, undefined, this.o.relay, [this.o.myName]);
    const memoKey = toHex(claimed);
    if (r.status === 'changed') {
      // The name is pinned from this relay with another key: the real key-changed signal.
      const changed = this.store.recordKeyChange(r.contact.id, bundle);
      this.candidates.set(memoKey, { k: 'pending', contact: changed, bundle });
      return q('KEY_CHANGED', claimed, true, changed.label);
    }
    if (r.status === 'new') this.o.onPinned?.(r.contact);
    this.candidates.set(memoKey, { k: 'contact', contact: r.contact });
    return { t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact: r.contact, opened };
  }
}

/** Envelopes opened between two turns of the event loop in processEnvelopes. */
const YIELD_EVERY = 250;

/** Each sender's messages in the order of their send times, keeping the slots senders had. */
function inSendOrder<T extends { contact: Contact; opened: Opened }>(msgs: T[]): T[] {
  const slots = new Map<number, number[]>();
  msgs.forEach((m, i) => {
    const s = slots.get(m.contact.id);
    if (s) s.push(i);
    else slots.set(m.contact.id, [i]);
  });
  const out = msgs.slice();
  for (const idx of slots.values()) {
    const sorted = idx.map((i) => msgs[i]!).sort((a, b) => a.opened.time - b.opened.time);
    idx.forEach((slot, j) => (out[slot] = sorted[j]!));
  }
  return out;
}

/** Attempts of a batch whose session another writer changed between its opening and its commit. */
const RACE_ATTEMPTS = 3;

/**
 * Opens a batch of received envelopes and stores it (messages and quarantine) in ONE
 * transaction. Does not ack: the caller acks `ackEids` after this returns. Duplicates (same
 * message id, or an envelope id already quarantined) are not reported again.
 *
 * The batch yields to the event loop while it is opened, so another writer of a session it
 * holds (a send of this process, or another process) may store that session first: the
 * commit then fails on the session's revision (SESSION_RACE) with nothing written, and the
 * batch is opened again from the stored states, up to RACE_ATTEMPTS times.
 */
export async function processEnvelopes(store: HushStore, identity: Identity, items: readonly InboundItem[], o: ProcessOptions): Promise<ProcessResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await processOnce(store, identity, items, o);
    } catch (e) {
      if (attempt >= RACE_ATTEMPTS || !(isHushError(e) && e.code === 'SESSION_RACE')) throw e;
    }
  }
}

async function processOnce(store: HushStore, identity: Identity, items: readonly InboundItem[], o: ProcessOptions): Promise<ProcessResult> {
  const book = new SessionBook(store, identity, o.now ?? Date.now, o.random ?? randomBytes, {
    ...DEFAULT_OPEN_LIMITS,
    ...o.ratchetLimits,
    ...(o.spkGraceMs === undefined ? {} : { spkGraceMs: o.spkGraceMs }),
  });
  const judge = new Judge(store, identity, o, book);
  const verdicts: Verdict[] = [];
  for (let i = 0; i < items.length; i++) {
    // A turn of the event loop every YIELD_EVERY envelopes: a pull page that arrived meanwhile
    // is read and the next one asked for while this batch is opened (src/client/pull-pages.ts).
    if (i > 0 && i % YIELD_EVERY === 0) await new Promise<void>((r) => setImmediate(r));
    verdicts.push(await judge.judge(items[i]!));
  }
  const now = o.now ?? Date.now;
  const limits = o.quarantineLimits ?? DEFAULT_QUARANTINE_LIMITS;
  const res = emptyProcessResult(items.map((i) => i.eid));
  const sealCtx = {
    identity,
    random: o.random ?? randomBytes,
    now,
    ...(o.cache ? { cache: o.cache } : {}),
    ...(o.receiptDelay ? { delay: o.receiptDelay } : {}),
    ...(o.pendingReceipts ? { pending: o.pendingReceipts } : {}),
  };
  store.transaction(() => {
    // The sessions' new states and the consumed one-time prekeys, with the messages they opened.
    book.commit();
    const msgs = inSendOrder(verdicts.filter((v): v is Extract<Verdict, { t: 'msg' }> => v.t === 'msg'));
    const rowBefore = msgs.length > 0 ? store.lastMessageRow() : 0;
    const fresh = store.addMessages(
      msgs.map((v): NewMessage => ({ msgId: v.opened.id, contactId: v.contact.id, direction: 'in', time: v.opened.time, body: bodyOf(v.opened.body), receivedAt: now() })),
    );
    // Who gets a delivered receipt for what (queued at the end of the transaction).
    const delivered = new Map<number, { contact: Contact; ids: Uint8Array[] }>();
    msgs.forEach((v, i) => {
      if (!fresh[i]) {
        res.duplicates++;
        return;
      }
      res.messages.push({ id: toHex(v.opened.id), from: v.contact.label, to: o.myName, time: v.opened.time, body: lossy.decode(v.opened.body) });
      const d = delivered.get(v.contact.id) ?? { contact: v.contact, ids: [] };
      d.ids.push(v.opened.id);
      delivered.set(v.contact.id, d);
    });
    if (res.messages.length > 0) res.stored = { after: rowBefore, last: store.lastMessageRow() };
    for (let v of inEpochOrder(verdicts, (x) => (x.t === 'control' && x.opened.kind === 'group' ? x.opened.body : undefined))) {
      if (v.t === 'control' && v.opened.kind === 'group') {
        // A group message: judged by its group's membership before it changes anything (§10.3).
        const g = applyGroupMessage(store, { signPk: identity.signPk, name: o.myName }, v.contact, v.opened.id, v.opened.time, v.opened.body);
        if (g.ok) {
          if (g.event) res.groups.push(g.event);
          if (g.event?.type === 'post') {
            // A new post: delivered, like a message (its id is this copy's pairwise id, §10.6).
            const d = delivered.get(v.contact.id) ?? { contact: v.contact, ids: [] };
            d.ids.push(v.opened.id);
            delivered.set(v.contact.id, d);
          }
          continue;
        }
        v = {
          t: 'quarantine',
          eid: v.eid,
          env: items.find((i) => i.eid === v.eid)!.env,
          reason: g.reason,
          claimed: v.contact.signPk,
          authenticated: true,
          claimedName: v.contact.label,
          ...(g.group === undefined ? {} : { group: g.group }),
        };
      }
      if (v.t === 'ignored') res.ignored++;
      if (v.t === 'duplicate') res.duplicates++;
      if (v.t === 'control') {
        res.ignored++;
        if (v.opened.kind === 'typing') res.typing.push({ from: v.contact.label, time: v.opened.time });
        else if (v.opened.kind === 'token') {
          try {
            storeHeldToken(store, v.contact, v.opened.body); // a delivery token for their mailbox (§5.8)
          } catch (e) {
            if (!(e instanceof DataError)) throw e; // malformed or a newer version: ignored
          }
        } else {
          try {
            res.receipts.push(applyReceipt(store, v.contact, decodeReceipt(v.opened.body)));
          } catch (e) {
            if (!(e instanceof DataError)) throw e;
            res.receipts.push({ from: v.contact.label, type: 'delivered', ids: [], ignored: 1 }); // malformed: ignored
          }
        }
      }
      if (v.t !== 'quarantine') continue;
      const r = store.quarantine(
        {
          eid: v.eid,
          envelope: v.env,
          reason: v.reason,
          receivedAt: now(),
          ...(v.claimed ? { senderSignPk: v.claimed } : {}),
          ...(v.claimed && v.authenticated ? { bucketKey: v.claimed } : {}),
        },
        limits,
      );
      if (!r.isNew) res.duplicates++;
      res.quarantineDropped += r.dropped;
      res.quarantined.push({
        eid: v.eid,
        reason: v.reason,
        authenticated: v.authenticated,
        isNew: r.isNew,
        ...(v.claimed ? { claimedKey: toB64(v.claimed) } : {}),
        ...(v.claimedName === undefined ? {} : { claimedName: v.claimedName }),
        ...(v.group === undefined ? {} : { group: v.group }),
      });
    }
    // One delivered receipt per sender for its new messages and group posts, committed with them.
    if (o.deliveryReceipts !== false) {
      for (const d of delivered.values()) {
        if (receiptsAllowed(store, d.contact)) res.outgoing.push(...queueReceipts(store, sealCtx, d.contact, 'delivered', d.ids));
      }
    }
  });
  return res;
}

/**
 * Re-opens the quarantined mail of `contact` (whose key the user just accepted or trusted,
 * e.g. by `hush trust NAME` after store.acceptNewKey). Entries are matched by the sender key
 * recorded at quarantine time; each one that now opens with the contact's PINNED keys is stored
 * as a received message and leaves the quarantine in the same transaction. Offline: no relay.
 * Returns the newly shown messages (in send order) and how many of the contact's entries stay.
 * `limits`: the bounds a receiving command would use (config ratchetLimits, the prekey grace).
 */
export function reprocessQuarantine(
  store: HushStore,
  identity: Identity,
  contact: Contact,
  myName = '',
  limits: OpenLimits = DEFAULT_OPEN_LIMITS,
): { opened: ReceivedMessage[]; remaining: number } {
  const current = store.getContact(contact.id) ?? contact;
  const entries = store.listQuarantine({ senderSignPk: current.signPk });
  const opened: ReceivedMessage[] = [];
  let remaining = 0;
  if (current.state === 'changed') return { opened, remaining: entries.length };
  const book = new SessionBook(store, identity, Date.now, randomBytes, limits);
  store.transaction(() => {
    const found: { o: Opened; receivedAt: number }[] = [];
    for (const e of entries) {
      let o: Opened;
      try {
        // v2 entries open in order of arrival: a prekey message starts the session the next ones use.
        // v1 from a contact that has sent v2 stays (DOWNGRADE: judge() says why).
        if (e.envelope[0] !== ENVELOPE_V2_VERSION && book.heardV2From(current)) throw new DataError('DOWNGRADE', 'v1 after v2');
        o = e.envelope[0] === ENVELOPE_V2_VERSION ? book.open(current, openEnvelopeV2(identity.boxSk, e.envelope)) : openInner(identity, openOuter(identity, e.envelope), current);
      } catch {
        remaining++;
        continue;
      }
      if (o.kind === 'msg') found.push({ o, receivedAt: e.receivedAt });
      store.removeQuarantine(e.id);
    }
    book.commit();
    found.sort((a, b) => a.o.time - b.o.time);
    for (const { o, receivedAt } of found) {
      const isNew = store.addMessage({ msgId: o.id, contactId: current.id, direction: 'in', time: o.time, body: bodyOf(o.body), receivedAt });
      if (isNew) opened.push({ id: toHex(o.id), from: current.label, to: myName, time: o.time, body: lossy.decode(o.body) });
    }
  });
  return { opened, remaining };
}
