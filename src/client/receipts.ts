/**
 * End-to-end encrypted receipts (issue 5; docs/PROTOCOL.md §5.6). A receipt is an ordinary
 * sealed envelope of kind `receipt` (src/protocol/envelope.ts KIND.receipt = 2): the relay
 * cannot tell it from a message of the same padded size. Its body:
 *
 *   body = u8 version (1) || u8 type (1 delivered, 2 read) || u16be count || count × msgId[16]
 *
 * with 1 <= count <= MAX_RECEIPT_IDS and nothing after the last id. One envelope per sender
 * per batch (several when a batch has more than MAX_RECEIPT_IDS ids).
 *
 * Rules (what the messenger does with these helpers):
 * - Receipts go only to CONTACTS, never to STRANGERS (receiptsAllowed): a stranger is a
 *   contact we have never written to (no outgoing message row) and never marked verified, i.e.
 *   one whose pin came from THEIR first message. Once we write to them or verify them,
 *   receipts for what arrives from then on are sent; our FIRST message to them also queues
 *   receipts for their newest 1000 earlier messages (queueCatchUpReceipts): the reply says
 *   as much already.
 * - A client that STORES incoming messages queues one `delivered` receipt per sender, in the
 *   same transaction as the messages (so a crash loses neither), unless delivered receipts are
 *   off (`--no-delivery-receipts`, config `deliveryReceipts: false`).
 * - A client that SHOWS them (pull, listen, history, chat) marks them read locally and, unless
 *   read receipts are off (`--no-read-receipts`, config `readReceipts: false`), queues `read`.
 * - Every receipt waits in the outbox until a "not before" time drawn uniformly from the
 *   receipt delay bounds (default 5 s to 60 s; the outbox row's created_at holds it): it leaves
 *   with whichever later command or listen loop passes that time, never a fixed few ms after
 *   the pull that caused it.
 * - Receipts are not shown in history; they never produce receipts.
 * - An incoming receipt moves OUR sent messages forward (store.setStatus, forward only), but
 *   only ids of messages we sent TO THAT SENDER; other ids (unknown, or a message sent to
 *   someone else: a forged receipt) are ignored and counted.
 */
import { DataError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import { envelopeId, MSG_ID_BYTES } from '../protocol/envelope.js';
import type { Random } from '../crypto/nacl.js';
import { type BoxIdentity, type SharedKeyCache } from '../crypto/seal.js';
import { sealFor } from './sessions.js';
import type { Contact, HushStore } from '../store/db.js';
import type { QueuedMessage } from './messenger.js';

export const RECEIPT_VERSION = 1;
/** Most message ids in one receipt body (4 + 1000 × 16 = 16,004 bytes, far below 64 KiB). */
export const MAX_RECEIPT_IDS = 1000;
export const RECEIPT_TYPE = { delivered: 1, read: 2 } as const;
/** Bounds (ms, inclusive) of the random wait before a queued receipt may be sent. */
export interface ReceiptDelay {
  minMs: number;
  maxMs: number;
}
/** Default receipt delay: uniform in [5 s, 60 s] (--receipt-delay 5-60). */
export const DEFAULT_RECEIPT_DELAY: ReceiptDelay = { minMs: 5_000, maxMs: 60_000 };
export type ReceiptType = keyof typeof RECEIPT_TYPE;
const TYPE_BY_CODE: Record<number, ReceiptType> = { 1: 'delivered', 2: 'read' };
const HEADER = 4;

export interface ReceiptBody {
  type: ReceiptType;
  /** 16-byte message ids. */
  ids: Uint8Array[];
}

const bad = (what: string): DataError => new DataError('BAD_RECEIPT', `malformed receipt: ${what}`);

/** Encodes a receipt body. Throws RangeError for an empty or oversized id list or a bad id. */
export function encodeReceipt(r: ReceiptBody): Uint8Array {
  if (r.ids.length < 1 || r.ids.length > MAX_RECEIPT_IDS) throw new RangeError(`encodeReceipt: 1 to ${MAX_RECEIPT_IDS} ids, not ${r.ids.length}`);
  const code = RECEIPT_TYPE[r.type];
  if (code === undefined) throw new RangeError('encodeReceipt: unknown type');
  const out = new Uint8Array(HEADER + r.ids.length * MSG_ID_BYTES);
  out[0] = RECEIPT_VERSION;
  out[1] = code;
  out[2] = r.ids.length >>> 8;
  out[3] = r.ids.length & 0xff;
  r.ids.forEach((id, i) => {
    if (!(id instanceof Uint8Array) || id.length !== MSG_ID_BYTES) throw new RangeError('encodeReceipt: each id must be 16 bytes');
    out.set(id, HEADER + i * MSG_ID_BYTES);
  });
  return out;
}

/**
 * Decodes and validates a receipt body: DataError UNSUPPORTED_VERSION for another version,
 * BAD_RECEIPT for an unknown type, a count of 0 or above MAX_RECEIPT_IDS, or a length that is
 * not exactly 4 + 16 × count.
 */
export function decodeReceipt(body: Uint8Array): ReceiptBody {
  if (body.length < HEADER) throw bad('too short');
  if (body[0] !== RECEIPT_VERSION) throw new DataError('UNSUPPORTED_VERSION', `receipt version ${body[0]} is not supported`);
  const type = TYPE_BY_CODE[body[1]!];
  if (!type) throw bad(`unknown type ${body[1]}`);
  const count = (body[2]! << 8) | body[3]!;
  if (count < 1 || count > MAX_RECEIPT_IDS) throw bad(`count ${count}`);
  if (body.length !== HEADER + count * MSG_ID_BYTES) throw bad('length does not match the count');
  const ids: Uint8Array[] = [];
  for (let i = 0; i < count; i++) ids.push(body.slice(HEADER + i * MSG_ID_BYTES, HEADER + (i + 1) * MSG_ID_BYTES));
  return { type, ids };
}

/** What an incoming receipt did. */
export interface ReceiptReport {
  /** The contact who sent the receipt. */
  from: string;
  type: ReceiptType;
  /** Hex ids of our messages to `from` that the receipt covers (whether or not their status moved). */
  ids: string[];
  /** Ids ignored: unknown, or of a message not sent to `from`. */
  ignored: number;
}

/**
 * Applies a decoded receipt from `contact` (call inside the batch's transaction): only ids of
 * messages we sent to that contact count; their status moves forward to the receipt's type.
 */
export function applyReceipt(store: HushStore, contact: Contact, r: ReceiptBody): ReceiptReport {
  const valid: Uint8Array[] = [];
  const copies: Uint8Array[] = [];
  let ignored = 0;
  const seen = new Set<string>();
  for (const id of r.ids) {
    const hex = toHex(id);
    if (seen.has(hex)) continue;
    seen.add(hex);
    const m = store.findMessage(id, 'out');
    if (m) {
      if (m.contactId === contact.id) valid.push(id);
      else ignored++;
      continue;
    }
    // A member's copy of one of our group posts (§10.6): the same rule, per copy.
    const c = store.groups.findCopy(id);
    if (c && c.contactId === contact.id) copies.push(id);
    else ignored++;
  }
  if (valid.length > 0) store.setStatus(valid, r.type, 'out');
  if (copies.length > 0) store.groups.setCopyStatus(copies, r.type);
  return { from: contact.label, type: r.type, ids: [...valid, ...copies].map(toHex), ignored };
}

/**
 * A sealed receipt waiting in the outbox: a queued message marked control (no 'sent' report,
 * no history row), not to be sent before `notBefore` (ms).
 */
export type QueuedReceipt = QueuedMessage & { control: true; notBefore: number };

/**
 * Receipts this process queued that have not reached their time yet, by `contactId:type`: a
 * later receipt of the same type to the same contact joins them (one envelope with every id,
 * up to MAX_RECEIPT_IDS, at the EARLIER time) instead of adding an envelope.
 */
export type PendingReceipts = Map<string, { eids: string[]; ids: Uint8Array[]; notBefore: number }>;

export interface SealContext {
  identity: BoxIdentity;
  random: Random;
  now: () => number;
  cache?: SharedKeyCache;
  /** The random wait before the receipts may leave (default DEFAULT_RECEIPT_DELAY). */
  delay?: ReceiptDelay;
  /** Coalesce with this process's receipts still waiting (see PendingReceipts). */
  pending?: PendingReceipts;
}

/**
 * May receipts go to `contact`? Not to a stranger: a contact we never wrote to and never
 * marked verified (its pin came from its own first message). Not to a changed key either.
 */
export function receiptsAllowed(store: HushStore, contact: Contact): boolean {
  if (contact.state === 'changed') return false;
  return contact.verified || store.hasWrittenTo(contact.id);
}

/** A time uniform in [now + minMs, now + maxMs] (ms), from 4 random bytes. */
export function drawNotBefore(now: number, random: Random, delay: ReceiptDelay = DEFAULT_RECEIPT_DELAY): number {
  const span = delay.maxMs - delay.minMs;
  if (span <= 0) return now + Math.max(0, delay.minMs);
  const b = random(4);
  const u = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!; // 0 .. 2^32 - 1
  return now + delay.minMs + Math.floor((u / 2 ** 32) * (span + 1));
}

/**
 * Seals receipts of `type` for `newIds` (messages FROM `contact`) and puts them in the outbox;
 * one envelope per MAX_RECEIPT_IDS ids, all with one "not before" time drawn from ctx.delay
 * (stored as the outbox row's created_at). With ctx.pending, a receipt of this process still
 * waiting for the same contact and type is replaced by one holding both sets of ids. Call
 * inside a transaction (the replacement must commit with it). Returns what was queued (the
 * caller sends what is already due).
 */
export function queueReceipts(store: HushStore, ctx: SealContext, contact: Contact, type: ReceiptType, newIds: readonly Uint8Array[]): QueuedReceipt[] {
  const out: QueuedReceipt[] = [];
  const now = ctx.now();
  let notBefore = drawNotBefore(now, ctx.random, ctx.delay);
  let ids = newIds;
  const key = `${contact.id}:${type}`;
  const waiting = ctx.pending?.get(key);
  ctx.pending?.delete(key);
  // Coalesce: the same contact's receipt of this type still waits (not due, so not in flight):
  // replace it by one envelope with its ids and these, at its earlier time.
  if (waiting && waiting.notBefore > now && waiting.ids.length + newIds.length <= MAX_RECEIPT_IDS) {
    let removed = true;
    for (const eid of waiting.eids) removed = store.removeOutbox(eid) && removed;
    if (removed) {
      const seen = new Set(waiting.ids.map(toHex));
      ids = [...waiting.ids, ...newIds.filter((id) => !seen.has(toHex(id)))];
      notBefore = Math.min(notBefore, waiting.notBefore);
    }
  }
  const eids: string[] = [];
  for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
    const chunk = ids.slice(i, i + MAX_RECEIPT_IDS);
    const msgId = ctx.random(MSG_ID_BYTES);
    const time = ctx.now();
    const payload = { kind: 'receipt' as const, id: msgId, time, body: encodeReceipt({ type, ids: chunk }) };
    const envelope = sealFor({ store, identity: ctx.identity, random: ctx.random, now: ctx.now, ...(ctx.cache ? { cache: ctx.cache } : {}) }, contact, payload).envelope;
    const eid = envelopeId(envelope);
    store.enqueueOutbox({ eid, contactId: contact.id, envelope, msgId, createdAt: notBefore });
    eids.push(eid);
    out.push({ eid, envelope, msgId, contactId: contact.id, to: contact.label, toSignPk: contact.signPk, time, fromOutbox: false, control: true, notBefore });
  }
  if (ctx.pending && notBefore > now && ids.length <= MAX_RECEIPT_IDS) ctx.pending.set(key, { eids, ids: [...ids], notBefore });
  return out;
}

/**
 * We have just written to `contact` for the first time (it was a stranger: its earlier mail got
 * no receipts). Our reply already tells it we got its mail, so its newest MAX_RECEIPT_IDS
 * incoming messages are acknowledged now: one `delivered` receipt (when `delivered`) and one
 * `read` receipt for those we have read (when `read`), with the usual delay. Call inside the
 * transaction that stores our first message. Returns what was queued.
 */
export function queueCatchUpReceipts(store: HushStore, ctx: SealContext, contact: Contact, o: { delivered: boolean; read: boolean }): QueuedReceipt[] {
  const incoming = store
    .history({ contactId: contact.id, limit: MAX_RECEIPT_IDS * 4 })
    .filter((m) => m.direction === 'in')
    .slice(-MAX_RECEIPT_IDS);
  const out: QueuedReceipt[] = [];
  if (o.delivered && incoming.length > 0)
    out.push(
      ...queueReceipts(
        store,
        ctx,
        contact,
        'delivered',
        incoming.map((m) => m.msgId),
      ),
    );
  const read = incoming.filter((m) => m.status === 'read').map((m) => m.msgId);
  if (o.read && read.length > 0) out.push(...queueReceipts(store, ctx, contact, 'read', read));
  return out;
}

/**
 * The user has now seen these incoming messages: in ONE transaction marks them read locally
 * and, when `sendRead`, queues one `read` receipt per sender (contacts only, not strangers)
 * for the ones not read before.
 * `postIds`: the group posts among what was seen, when the caller keeps them apart (`msgIds`
 * are then looked for among messages only, not also among posts: a pull of 10,000 saves a
 * keyed hash and a lookup per message). `rows`: messages whose store rows the caller knows (pull's,
 * src/client/shown-messages.ts), marked by row range instead of by keyed tag; they are not also in
 * `msgIds`. Messages already read produce nothing (no second receipt). Works offline (history): the
 * receipts wait in the outbox for the next send, pull, listen or chat.
 */
export function queueReadReceipts(
  store: HushStore,
  ctx: SealContext,
  msgIds: readonly Uint8Array[],
  sendRead: boolean,
  postIds?: readonly Uint8Array[],
  rows: readonly { row: number; msgId: Uint8Array }[] = [],
): QueuedReceipt[] {
  return store.transaction(() => {
    // No history record decrypted: the messages whose rows are known (`rows`, what a pull
    // stored) by row range, the others by keyed tag; the ids that moved, per sender.
    const byContact = msgIds.length > 0 ? store.markIncomingRead(msgIds) : new Map<number, Uint8Array[]>();
    for (const [contactId, ids] of rows.length > 0 ? store.markIncomingReadRows(rows) : []) byContact.set(contactId, [...(byContact.get(contactId) ?? []), ...ids]);
    // Group posts shown (their ids are the pairwise ids their authors' copies carried, §10.6):
    // `postIds` when the caller knows which ids are posts (pull), else every id is looked for.
    for (const { author, ids } of store.groups.markRead(postIds ?? msgIds).values()) {
      const c = store.findContactBySignPk(author);
      if (c) byContact.set(c.id, [...(byContact.get(c.id) ?? []), ...ids]);
    }
    const out: QueuedReceipt[] = [];
    if (!sendRead) return out;
    for (const [contactId, ids] of byContact) {
      const c = store.getContact(contactId);
      if (!c || !receiptsAllowed(store, c)) continue; // never to a stranger or a changed key
      out.push(...queueReceipts(store, ctx, c, 'read', ids));
    }
    return out;
  });
}
