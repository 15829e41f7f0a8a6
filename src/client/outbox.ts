/**
 * The outbox's two ends (docs/PROTOCOL.md §8.1 `outbox`). What enters it (queueMessages): an
 * outgoing message is sealed and stored in history (status 'queued') and in the outbox in ONE
 * transaction, before the relay sees it. What leaves it now (dueOutbox): every waiting message,
 * oldest first, and every receipt whose random "not before" time (its created_at) has come. A
 * receipt is an outbox row with no history row of the same id; messages always have one.
 */
import { utf8 } from '../protocol/encoding.js';
import { envelopeId } from '../protocol/envelope.js';
import type { Contact, HushStore } from '../store/db.js';
import { markTokenDue } from './delivery-tokens.js';
import type { Messenger } from './messenger.js';
import type { QueuedMessage } from './messenger-types.js';
import { queueCatchUpReceipts, type QueuedReceipt, receiptsAllowed } from './receipts.js';
import { fromRelay } from './recipients.js';
import { checkBody } from './send-errors.js';

/**
 * Messenger.queueMessages: seals each text to `contact` and stores all of them (history,
 * status 'queued', and the outbox) in ONE transaction. Nothing is sent yet. Checks size and
 * emptiness.
 */
export function queueMessages(m: Messenger, contact: Contact, texts: readonly string[]): QueuedMessage[] {
  const bodies = texts.map((text) => {
    const body = utf8(text);
    checkBody(body);
    return { text, body };
  });
  // Times strictly increase per conversation (docs/PROTOCOL.md §5.1): read the newest sent
  // time and store the new messages under one write lock, so two senders cannot interleave.
  let catchUp: QueuedReceipt[] = [];
  const prepared = m.store.transaction(() => {
    const wasStranger = !receiptsAllowed(m.store, contact);
    let time = m.store.nextOutTime(contact.id, m.now());
    const ps = bodies.map(({ body }) => ({ kind: 'msg' as const, id: m.random(16), time: time++, body }));
    const out = m.sealMany(contact, ps).map((envelope, i) => ({ text: bodies[i]!.text, msgId: ps[i]!.id, time: ps[i]!.time, envelope, eid: envelopeId(envelope) }));
    m.store.addMessages(out.map((p) => ({ msgId: p.msgId, contactId: contact.id, direction: 'out', time: p.time, body: p.text, status: 'queued', receivedAt: p.time })));
    for (const p of out) m.store.enqueueOutbox({ eid: p.eid, contactId: contact.id, envelope: p.envelope, msgId: p.msgId, createdAt: p.time });
    // Our first message to a stranger: its earlier mail is acknowledged now (src/client/receipts.ts).
    if (wasStranger && out.length > 0 && receiptsAllowed(m.store, contact)) {
      catchUp = queueCatchUpReceipts(m.store, m.sealContext(), contact, { delivered: m.deliveryReceipts, read: m.readReceipts });
    }
    // We wrote to them: they get a delivery token for our mailbox at the next sync.
    if (fromRelay(contact, m.relay)) markTokenDue(m.store, contact, m.relay);
    return out;
  });
  // They wait in the outbox for a flush past their time (listen's timer, the next command).
  for (const q of catchUp) m.sender.receiptAt(q.notBefore);
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

export interface DueOutbox {
  /** In outbox order, ready for a SendPipeline. */
  go: QueuedMessage[];
  /** The earliest "not before" time of a receipt left waiting, if any. */
  nextReceipt?: number;
}

/** The outbox rows due at `now`; with `receiptsOnly`, only the due receipts. */
export function dueOutbox(store: HushStore, now: number, receiptsOnly: boolean): DueOutbox {
  const go: QueuedMessage[] = [];
  let nextReceipt: number | undefined;
  for (const e of store.listOutbox()) {
    const c = store.getContact(e.contactId);
    if (!c) continue;
    const m = store.findMessage(e.msgId, 'out');
    if (m && receiptsOnly) continue;
    if (!m && e.createdAt > now) {
      nextReceipt = Math.min(nextReceipt ?? Infinity, e.createdAt);
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
  return nextReceipt === undefined ? { go } : { go, nextReceipt };
}
