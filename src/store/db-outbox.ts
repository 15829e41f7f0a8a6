/**
 * The outbox of the local store (docs/PROTOCOL.md §8.1): sealed envelopes stored before they
 * are sent (the client queues them in the transaction that stores their messages), so a crash
 * or a lost connection loses none; an entry leaves only when the relay accepted it, and its
 * message (and a member's copy of a group post) moves to 'sent' in the same transaction. Each
 * row's reference to its message id is sealed under the history key (src/store/db-codec.ts).
 * Used through HushStore (src/store/db.ts), inside its transactions.
 */
import { openOutboxRef, sealOutboxRef } from './db-codec.js';
import type { GroupTables } from './db-groups.js';
import type { MessageTable } from './db-messages.js';
import type { TableContext } from './db-quarantine.js';
import { badArg, checkMsgId, checkTime, u8 } from './db-util.js';

export interface NewOutboxEntry {
  /** Envelope id (src/protocol/envelope.ts envelopeId), unique. */
  eid: string;
  contactId: number;
  /** The sealed envelope, ready for the relay. */
  envelope: Uint8Array;
  msgId: Uint8Array;
  createdAt?: number;
}

export interface OutboxEntry {
  id: number;
  eid: string;
  contactId: number;
  envelope: Uint8Array;
  msgId: Uint8Array;
  createdAt: number;
  attempts: number;
}

export class OutboxTable {
  /** A completed entry moves its message (`messages`) and its group copy (`groups`) to 'sent'. */
  constructor(
    private readonly c: TableContext,
    private readonly messages: MessageTable,
    private readonly groups: GroupTables,
  ) {}

  /** Queues a sealed envelope; false when that eid is already queued. */
  enqueueOutbox(e: NewOutboxEntry): boolean {
    checkMsgId(e.msgId);
    if (typeof e.eid !== 'string' || e.eid.length === 0 || e.eid.length > 200) throw badArg('eid must be a non-empty string');
    if (!(e.envelope instanceof Uint8Array)) throw badArg('envelope must be bytes');
    const createdAt = e.createdAt ?? this.c.now();
    checkTime(createdAt, 'createdAt');
    const ref = sealOutboxRef(e.msgId, e.contactId, e.eid, this.c.key);
    return this.c.run(
      () =>
        this.c
          .stmt('outInsert', 'INSERT OR IGNORE INTO outbox (eid, contact_id, envelope, ref, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(e.eid, e.contactId, e.envelope, ref, createdAt).changes === 1,
    );
  }

  /** Everything waiting, oldest first. */
  listOutbox(): OutboxEntry[] {
    return this.c.run(() =>
      (
        this.c.stmt('outList', 'SELECT * FROM outbox ORDER BY id').all() as {
          id: number;
          eid: string;
          contact_id: number;
          envelope: Buffer;
          ref: Buffer;
          created_at: number;
          attempts: number;
        }[]
      ).map((r) => ({
        id: r.id,
        eid: r.eid,
        contactId: r.contact_id,
        envelope: u8(r.envelope),
        msgId: openOutboxRef(u8(r.ref), this.c.key, { contactId: r.contact_id, eid: r.eid }),
        createdAt: r.created_at,
        attempts: r.attempts,
      })),
    );
  }

  /**
   * The contact's v1 envelopes still waiting for their "not before" time (receipts sealed
   * before a v2 session existed) become due at `now`: sent with the next flush, ahead of what a
   * new session seals (its rows come later), so the contact never gets v1 from us after v2
   * (it would quarantine it as a DOWNGRADE, docs/PROTOCOL.md §9.10). Returns how many.
   */
  v1DueNow(contactId: number, now: number): number {
    return this.c.run(
      () => this.c.stmt('outV1Due', "UPDATE outbox SET created_at = ? WHERE contact_id = ? AND created_at > ? AND substr(envelope, 1, 1) = X'01'").run(now, contactId, now).changes,
    );
  }

  /** Removes an entry once the relay accepted it; false when it was not there. */
  removeOutbox(eid: string): boolean {
    return this.c.run(() => this.c.stmt('outDel', 'DELETE FROM outbox WHERE eid = ?').run(eid).changes === 1);
  }

  /**
   * The relay accepted `eid`: in one transaction, removes it from the outbox and moves its
   * message (direction 'out') to 'sent' (forward only). False when the eid was not queued.
   */
  completeOutbox(eid: string): boolean {
    return this.completeOutboxMany([eid])[0]!;
  }

  /** completeOutbox for each eid, in one transaction (one status update for all of them). */
  completeOutboxMany(eids: readonly string[]): boolean[] {
    return this.c.transaction(() => {
      const msgIds: Uint8Array[] = [];
      const done = eids.map((eid) => {
        const r = this.c.stmt('outGet', 'SELECT contact_id, ref FROM outbox WHERE eid = ?').get(eid) as { contact_id: number; ref: Buffer } | undefined;
        if (!r) return false;
        msgIds.push(openOutboxRef(u8(r.ref), this.c.key, { contactId: r.contact_id, eid }));
        this.c.stmt('outDel', 'DELETE FROM outbox WHERE eid = ?').run(eid);
        return true;
      });
      if (msgIds.length > 0) {
        this.messages.setStatus(msgIds, 'sent', 'out');
        this.groups.setCopyStatus(msgIds, 'sent'); // a member's copy of a group post (schema 5)
      }
      return done;
    });
  }

  /** Counts a failed attempt; returns the new count (undefined when the eid is not queued). */
  bumpAttempts(eid: string): number | undefined {
    return this.c.run(() => {
      const r = this.c.stmt('outBump', 'UPDATE outbox SET attempts = attempts + 1 WHERE eid = ? RETURNING attempts').get(eid) as { attempts: number } | undefined;
      return r?.attempts;
    });
  }
}
