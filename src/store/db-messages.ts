/**
 * The messages of the local store (docs/PROTOCOL.md §8.1): history in both directions, each
 * body and id sealed under the history key (src/store/db-codec.ts) and found by a keyed tag of
 * its id; the status of each message, moved forward only (queued < sent < delivered < read;
 * received < read); read marks by tag or by row; the time of the next message out (strictly
 * increasing per conversation). addMessages and the read marks are the pull's hot path: their
 * statements are prepared once (by name, in the store), and the key and the clock are fields of
 * the table so the per-row work reads them as directly as it did inside HushStore.
 * Used through HushStore (src/store/db.ts), inside its transactions.
 */
import { type Direction, type MessageBody, msgTag, openMessage, sealMessage } from './db-codec.js';
import type { GroupTables } from './db-groups.js';
import type { TableContext } from './db-quarantine.js';
import { badArg, checkMsgId, checkTime, u8 } from './db-util.js';

/** Outgoing: queued (in the outbox) < sent (relay accepted) < delivered < read. Incoming: received < read. */
export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'received';

const STATUS_RANK: Record<MessageStatus, number> = { queued: 0, sent: 1, received: 1, delivered: 2, read: 3 };
const STATUSES_FOR: Record<Direction, readonly MessageStatus[]> = { in: ['received', 'read'], out: ['queued', 'sent', 'delivered', 'read'] };

export interface NewMessage {
  /** The random 16-byte id from the payload; duplicates (same id and direction) are dropped. */
  msgId: Uint8Array;
  contactId: number;
  direction: Direction;
  /** The sender's timestamp (ms). */
  time: number;
  /** A string is stored as UTF-8 text and comes back as a string; bytes come back as bytes. */
  body: MessageBody;
  /** Default: 'received' for in, 'sent' for out. */
  status?: MessageStatus;
  /** Default: now. */
  receivedAt?: number;
}

export interface StoredMessage {
  id: number;
  msgId: Uint8Array;
  contactId: number;
  direction: Direction;
  time: number;
  receivedAt: number;
  status: MessageStatus;
  body: MessageBody;
}

export interface HistoryQuery {
  contactId?: number;
  /** The newest `limit` messages (still returned oldest first). */
  limit?: number;
  /** Only messages with time >= since (ms). */
  since?: number;
  /** Only messages with time < before (ms). */
  before?: number;
}

/** Message tags per UPDATE in markIncomingRead (SQLite allows 32,766 parameters). */
const READ_CHUNK = 500;

interface MessageRow {
  id: number;
  msg_tag: Buffer;
  contact_id: number;
  direction: Direction;
  time: number;
  received_at: number;
  status: MessageStatus;
  body: Buffer;
}

export class MessageTable {
  /** The context's key and clock, read once: the pull's loops use them per row. */
  private readonly key: Uint8Array;
  private readonly now: () => number;

  /** `groups`: a copy of a group post of ours counts as written to its member (hasWrittenTo). */
  constructor(
    private readonly c: TableContext,
    private readonly groups: GroupTables,
  ) {
    this.key = c.key;
    this.now = c.now;
  }

  /** Stores one message; false when a message with that id and direction was already stored. */
  addMessage(m: NewMessage): boolean {
    return this.addMessages([m])[0]!;
  }

  /** Stores many messages in one transaction; result[i] says whether messages[i] was new. */
  addMessages(messages: readonly NewMessage[]): boolean[] {
    const prepared = messages.map((m) => {
      checkMsgId(m.msgId);
      if (m.direction !== 'in' && m.direction !== 'out') throw badArg("direction must be 'in' or 'out'");
      const status = m.status ?? (m.direction === 'in' ? 'received' : 'sent');
      if (!STATUSES_FOR[m.direction].includes(status)) throw badArg(`status ${status} is not valid for direction ${m.direction}`);
      checkTime(m.time, 'time');
      const receivedAt = m.receivedAt ?? this.now();
      checkTime(receivedAt, 'receivedAt');
      if (!Number.isSafeInteger(m.contactId) || m.contactId < 1) throw badArg('contactId must be a positive integer');
      if (typeof m.body !== 'string' && !(m.body instanceof Uint8Array)) throw badArg('body must be a string or bytes');
      return [msgTag(m.msgId, this.key), m.contactId, m.direction, m.time, receivedAt, status, sealMessage(m, this.key)] as const;
    });
    const ins = this.c.stmt('msgInsert', 'INSERT OR IGNORE INTO messages (msg_tag, contact_id, direction, time, received_at, status, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
    return this.c.transaction(() => prepared.map((row) => ins.run(...row).changes === 1));
  }

  /**
   * Moves the status of the given messages forward (never back: a late 'delivered' does not
   * undo 'read'). Direction defaults to 'out' (receipts). Returns how many rows changed.
   */
  setStatus(msgIds: readonly Uint8Array[], status: MessageStatus, direction: Direction = 'out'): number {
    if (!STATUSES_FOR[direction]?.includes(status)) throw badArg(`status ${status} is not valid for direction ${direction}`);
    msgIds.forEach(checkMsgId);
    const upd = this.c.stmt(
      'msgStatus',
      `UPDATE messages SET status = ? WHERE msg_tag = ? AND direction = ? AND
         (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'received' THEN 1 WHEN 'delivered' THEN 2 ELSE 3 END) < ?`,
    );
    return this.c.transaction(() => {
      let n = 0;
      for (const id of msgIds) n += upd.run(status, msgTag(id, this.key), direction, STATUS_RANK[status]).changes;
      return n;
    });
  }

  /** One message by id and direction, or undefined. */
  findMessage(msgId: Uint8Array, direction: Direction): StoredMessage | undefined {
    checkMsgId(msgId);
    return this.c.run(() => {
      const row = this.c.stmt('msgFind', 'SELECT * FROM messages WHERE msg_tag = ? AND direction = ?').get(msgTag(msgId, this.key), direction) as MessageRow | undefined;
      return row ? this.decodeMessage(row) : undefined;
    });
  }

  /**
   * Marks these incoming messages read (those not read yet) and returns, per contact id, the
   * ids that moved, in the order given. Unknown ids and messages already read are skipped.
   * One UPDATE per id, no body decryption (the read path of pull, listen and chat).
   */
  markIncomingRead(msgIds: readonly Uint8Array[]): Map<number, Uint8Array[]> {
    msgIds.forEach(checkMsgId);
    const tags = msgIds.map((id) => msgTag(id, this.key));
    return this.c.transaction(() => {
      // READ_CHUNK tags per statement (the last chunk has its own statement, cached by size).
      const moved = new Map<string, number>(); // tag (hex) -> contact id
      for (let i = 0; i < tags.length; i += READ_CHUNK) {
        const chunk = tags.slice(i, i + READ_CHUNK);
        const upd = this.c.stmt(
          `msgReadIn:${chunk.length}`,
          `UPDATE messages SET status = 'read' WHERE direction = 'in' AND status <> 'read' AND msg_tag IN (${chunk.map(() => '?').join(',')}) RETURNING msg_tag, contact_id`,
        );
        for (const r of upd.all(...chunk) as { msg_tag: Buffer; contact_id: number }[]) moved.set(r.msg_tag.toString('hex'), r.contact_id);
      }
      const byContact = new Map<number, Uint8Array[]>();
      tags.forEach((tag, i) => {
        const hex = Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength).toString('hex');
        const contactId = moved.get(hex);
        if (contactId === undefined) return;
        moved.delete(hex); // an id given twice is reported once
        const list = byContact.get(contactId);
        if (list) list.push(msgIds[i]!);
        else byContact.set(contactId, [msgIds[i]!]);
      });
      return byContact;
    });
  }

  /**
   * markIncomingRead for messages whose rows the caller knows (the rows a pull stored and
   * showed: `row` holds the message `msgId`): one UPDATE per run of consecutive rows, by row id,
   * no keyed tag computed or looked up (message rows are never deleted: a row id names one
   * message for good). Returns, per contact id, the ids that moved, in the
   * order given; rows that are not incoming or already read are skipped.
   */
  markIncomingReadRows(rows: readonly { row: number; msgId: Uint8Array }[]): Map<number, Uint8Array[]> {
    for (const r of rows) {
      checkMsgId(r.msgId);
      if (!Number.isSafeInteger(r.row) || r.row < 1) throw badArg('row must be a positive integer');
    }
    const sorted = rows.map((r) => r.row).sort((a, b) => a - b);
    return this.c.transaction(() => {
      const upd = this.c.stmt('msgReadRows', "UPDATE messages SET status = 'read' WHERE id BETWEEN ? AND ? AND direction = 'in' AND status <> 'read' RETURNING id, contact_id");
      const moved = new Map<number, number>(); // row -> contact id
      for (let i = 0; i < sorted.length;) {
        let j = i;
        while (j + 1 < sorted.length && sorted[j + 1]! <= sorted[j]! + 1) j++;
        for (const r of upd.all(sorted[i], sorted[j]) as { id: number; contact_id: number }[]) moved.set(r.id, r.contact_id);
        i = j + 1;
      }
      const byContact = new Map<number, Uint8Array[]>();
      for (const r of rows) {
        const contactId = moved.get(r.row);
        if (contactId === undefined) continue;
        moved.delete(r.row); // a row given twice is reported once
        const list = byContact.get(contactId);
        if (list) list.push(r.msgId);
        else byContact.set(contactId, [r.msgId]);
      }
      return byContact;
    });
  }

  /** Decrypted history, oldest first (the newest `limit` when a limit is given). */
  history(q: HistoryQuery = {}): StoredMessage[] {
    const where: string[] = [];
    const args: number[] = [];
    if (q.contactId !== undefined) {
      where.push('contact_id = ?');
      args.push(q.contactId);
    }
    if (q.since !== undefined) {
      where.push('time >= ?');
      args.push(q.since);
    }
    if (q.before !== undefined) {
      where.push('time < ?');
      args.push(q.before);
    }
    if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) throw badArg('limit must be a non-negative integer');
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ?`;
    return this.c.run(() => {
      const rows = this.c.stmt(`history:${where.join(',')}`, sql).all(...args, q.limit ?? -1) as MessageRow[];
      return rows.reverse().map((r) => this.decodeMessage(r));
    });
  }

  /**
   * The time for a new outgoing message to `contactId`: `now`, or one more than the newest
   * message already sent to them, so times are strictly increasing per conversation (receivers
   * order a conversation by it; docs/PROTOCOL.md §5.1). Call inside the transaction that stores it.
   */
  nextOutTime(contactId: number, now: number): number {
    return this.c.run(() => {
      const r = this.c.stmt('maxOut', "SELECT max(time) AS t FROM messages WHERE contact_id = ? AND direction = 'out'").get(contactId) as { t: number | null };
      return r.t === null ? now : Math.max(now, r.t + 1);
    });
  }

  /** Has any message been written to `contactId` (an outgoing row, whatever its status, or a copy of a group post of ours)? */
  hasWrittenTo(contactId: number): boolean {
    return (
      this.c.run(() => this.c.stmt('outAny', "SELECT 1 FROM messages WHERE contact_id = ? AND direction = 'out' LIMIT 1").get(contactId) !== undefined) ||
      this.groups.hasCopyTo(contactId)
    );
  }

  /** The highest message row id (0 for none): where a reader starts showing new messages. */
  lastMessageRow(): number {
    return this.c.run(() => (this.c.stmt('msgLast', 'SELECT coalesce(max(id), 0) AS m FROM messages').get() as { m: number }).m);
  }

  /** Incoming messages stored after row `afterRow` (by any process), in storage order. */
  incomingAfter(afterRow: number, limit = 1000, upTo = Number.MAX_SAFE_INTEGER): StoredMessage[] {
    return this.c.run(() => {
      const rows = this.c.stmt('msgInAfter', "SELECT * FROM messages WHERE id > ? AND id <= ? AND direction = 'in' ORDER BY id LIMIT ?").all(afterRow, upTo, limit) as MessageRow[];
      return rows.map((r) => this.decodeMessage(r));
    });
  }

  countMessages(contactId?: number): number {
    return this.c.run(() =>
      contactId === undefined
        ? (this.c.stmt('msgCount', 'SELECT count(*) AS n FROM messages').get() as { n: number }).n
        : (this.c.stmt('msgCountC', 'SELECT count(*) AS n FROM messages WHERE contact_id = ?').get(contactId) as { n: number }).n,
    );
  }

  private decodeMessage(r: MessageRow): StoredMessage {
    const { msgId, body } = openMessage(u8(r.body), this.key, { tag: u8(r.msg_tag), direction: r.direction, contactId: r.contact_id, time: r.time });
    return { id: r.id, msgId, contactId: r.contact_id, direction: r.direction, time: r.time, receivedAt: r.received_at, status: r.status, body };
  }
}
