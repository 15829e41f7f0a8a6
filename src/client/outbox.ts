/**
 * What leaves the outbox now (docs/PROTOCOL.md §8.1 `outbox`): every waiting message, oldest
 * first, and every receipt whose random "not before" time (its created_at) has come. A receipt
 * is an outbox row with no history row of the same id; messages always have one.
 */
import type { HushStore } from '../store/db.js';
import type { QueuedMessage } from './messenger-types.js';

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
