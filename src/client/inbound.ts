/**
 * The receive path: a batch of received envelopes, each judged by the Judge
 * (src/client/judge.ts: opened, authenticated, and only then allowed to change anything), is
 * stored in ONE transaction (messages, receipts applied, delivered receipts queued for contacts
 * that are not strangers, quarantine, the v2 sessions and prekeys the batch changed); the caller
 * acks after it. Within a batch, each sender's messages are stored in the order of their
 * (strictly increasing) send times. Also the types the commands and the daemon see.
 */
import { DataError, isHushError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { toB64, toHex } from '../protocol/encoding.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes, type Random } from '../crypto/nacl.js';
import { type Opened, type SharedKeyCache } from '../crypto/seal.js';
import { type Contact, DEFAULT_QUARANTINE_LIMITS, type HushStore, type NewMessage, type QuarantineLimits } from '../store/db.js';
import { DEFAULT_OPEN_LIMITS } from '../crypto/session.js';
import type { RatchetLimits } from '../crypto/ratchet.js';
import { SessionBook } from './sessions.js';
import { Judge, type Verdict } from './judge.js';
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
