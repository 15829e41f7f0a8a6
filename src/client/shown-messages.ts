/**
 * Which incoming messages a Messenger has shown (its 'message' events), and by which store
 * rows. Shown is every incoming message stored after the last one shown, by this process or by
 * another reader of the same home (a second listen or chat that got the same push and stored
 * it first, or `hush daemon`), in storage order. A batch this process just stored is taken as
 * it is instead of being read back and decrypted again (ProcessResult.stored). The row of each
 * message shown is remembered, so that marking it read later goes by row (markIncomingReadRows)
 * instead of by keyed tag.
 */
import { toHex } from '../protocol/encoding.js';
import type { HushStore, StoredMessage } from '../store/db.js';
import { bodyText, type ReceivedMessage } from './inbound.js';

export class ShownMessages {
  /** Incoming messages stored after this row are shown (by whichever process stored them). */
  private shownRow: number;
  /** The store row of each message shown (takeNew), so markRead marks it by row. */
  private readonly rows = new WeakMap<Pick<ReceivedMessage, 'id'>, number>();

  constructor(
    private readonly store: HushStore,
    /** Our own name (ReceivedMessage.to). */
    private readonly name: string,
    shownAfter: number,
  ) {
    this.shownRow = shownAfter;
  }

  /** The newest incoming history row shown (see MessengerOptions.shownAfter). */
  get upTo(): number {
    return this.shownRow;
  }

  /** The store row of a message taken here, or undefined (chat's, a caller's copies). */
  rowOf(m: Pick<ReceivedMessage, 'id'>): number | undefined {
    return this.rows.get(m);
  }

  /**
   * Incoming messages stored since the last call (by any process), in storage order. `own`:
   * the rows a batch of this process just stored and what they hold (ProcessResult.stored),
   * taken as they are instead of being read back and decrypted again; rows of other
   * processes before and after them are read.
   */
  takeNew(own?: { after: number; last: number; messages: ReceivedMessage[] }): ReceivedMessage[] {
    const out: ReceivedMessage[] = [];
    if (own && own.after >= this.shownRow && own.last - own.after === own.messages.length) {
      for (let from = this.shownRow; ;) {
        const rows = this.store.incomingAfter(from, 1000, own.after);
        for (const r of rows) out.push(this.received(r));
        if (rows.length < 1000) break;
        from = rows[rows.length - 1]!.id;
      }
      own.messages.forEach((m, i) => this.rows.set(m, own.after + 1 + i)); // the batch's rows, in order (ProcessResult.stored)
      out.push(...own.messages);
      this.shownRow = own.last;
    }
    for (;;) {
      const rows = this.store.incomingAfter(this.shownRow, 1000);
      for (const r of rows) out.push(this.received(r));
      if (rows.length > 0) this.shownRow = rows[rows.length - 1]!.id;
      if (rows.length < 1000) return out;
    }
  }

  private received(r: StoredMessage): ReceivedMessage {
    const c = this.store.getContact(r.contactId);
    const m = { id: toHex(r.msgId), from: c?.label ?? '?', to: this.name, time: r.time, body: bodyText(r.body) };
    this.rows.set(m, r.id);
    return m;
  }
}
