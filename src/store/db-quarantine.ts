/**
 * The quarantine table of the local store (docs/PROTOCOL.md §8.1, §8.5): envelopes that were
 * received but not shown (they failed authentication, or came from an unknown, changed or
 * refused key), kept so `hush trust` can re-open them, and BOUNDED per authenticated sender, in
 * total and by age, so junk can neither fill the disk nor push out a real sender's entries.
 * Used through HushStore (src/store/db.ts), inside its transactions.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { bytesEqual } from '../protocol/encoding.js';
import { bucketTag, openQuarantineInfo, sealQuarantineInfo } from './db-codec.js';
import { badArg, checkTime, u8 } from './db-util.js';

export interface NewQuarantineEntry {
  eid: string;
  envelope: Uint8Array;
  /** An UPPER_SNAKE reason: TAMPERED, UNKNOWN_SENDER, KEY_CHANGED, REJECTED_KEY, ... */
  reason: string;
  /** The sender key the envelope claims (its inner layer), authenticated or not. */
  senderSignPk?: Uint8Array;
  /** The sender key if it AUTHENTICATED the envelope; absent for unauthenticated mail. */
  bucketKey?: Uint8Array;
  receivedAt?: number;
}

/** Bounds of the quarantine (docs/PROTOCOL.md §8.5); every one has a documented default. */
export interface QuarantineLimits {
  /** Entries kept per sender bucket (one authenticated key, or all unauthenticated mail). */
  perSender: number;
  /** Envelope bytes kept per sender bucket. */
  perSenderBytes: number;
  /** Entries kept in total. */
  count: number;
  /** Envelope bytes kept in total. */
  bytes: number;
  /** Entries older than this (ms) are purged. */
  maxAgeMs: number;
}

export const DEFAULT_QUARANTINE_LIMITS: QuarantineLimits = {
  perSender: 200,
  perSenderBytes: 4 * 1024 * 1024,
  count: 2000,
  bytes: 32 * 1024 * 1024,
  maxAgeMs: 30 * 24 * 3600 * 1000,
};

export interface QuarantineEntry {
  id: number;
  eid: string;
  envelope: Uint8Array;
  reason: string;
  senderSignPk?: Uint8Array;
  receivedAt: number;
}

const REASON_RE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** What the table needs of its store: statements, error mapping, transactions, the key, a clock. */
export interface TableContext {
  stmt(name: string, sql: string): BetterSqlite3.Statement<unknown[], unknown>;
  run<T>(fn: () => T): T;
  transaction<T>(fn: () => T): T;
  readonly key: Uint8Array;
  now(): number;
}

export class QuarantineTable {
  constructor(private readonly c: TableContext) {}

  /**
   * Keeps an envelope that failed; an eid already quarantined is kept once (isNew false).
   * Bounded (QuarantineLimits): entries past their age are purged, then the oldest entries of
   * the same sender bucket, then the oldest overall, until the new one fits; `dropped` counts
   * them. The bucket is the AUTHENTICATED sender key when there is one (`bucketKey`), else one
   * bucket for all unauthenticated mail, so junk cannot push out a real sender's entries.
   */
  add(q: NewQuarantineEntry, limits: QuarantineLimits = DEFAULT_QUARANTINE_LIMITS): { id: number; isNew: boolean; dropped: number } {
    if (!REASON_RE.test(q.reason)) throw badArg('reason must be an UPPER_SNAKE code');
    if (typeof q.eid !== 'string' || q.eid.length === 0 || q.eid.length > 200) throw badArg('eid must be a non-empty string');
    if (q.senderSignPk !== undefined && q.senderSignPk.length !== 32) throw badArg('senderSignPk must be 32 bytes');
    const receivedAt = q.receivedAt ?? this.c.now();
    checkTime(receivedAt, 'receivedAt');
    const bucket = q.bucketKey ? bucketTag(q.bucketKey, this.c.key) : null;
    const info = sealQuarantineInfo(q.eid, q.reason, q.senderSignPk, this.c.key);
    return this.c.transaction(() => {
      const dup = this.c.stmt('qId', 'SELECT id FROM quarantine WHERE eid = ?').get(q.eid) as { id: number } | undefined;
      if (dup) return { id: dup.id, isNew: false, dropped: 0 };
      const dropped = this.makeRoom(bucket, q.envelope.length, receivedAt, limits);
      const r = this.c.stmt('qInsert', 'INSERT INTO quarantine (eid, received_at, envelope, info, bucket) VALUES (?, ?, ?, ?, ?)').run(q.eid, receivedAt, q.envelope, info, bucket);
      return { id: Number(r.lastInsertRowid), isNew: true, dropped };
    });
  }

  /** Deletes quarantined entries older than `maxAgeMs`; returns how many. */
  purge(maxAgeMs: number, now = this.c.now()): number {
    return this.c.run(() => this.c.stmt('qPurge', 'DELETE FROM quarantine WHERE received_at < ?').run(now - maxAgeMs).changes);
  }

  /**
   * Drops entries until one more of `size` bytes fits: the oldest of its bucket past the bucket
   * limits, then overall the oldest unauthenticated entries first, then the oldest of any bucket.
   */
  private makeRoom(bucket: Uint8Array | null, size: number, now: number, l: QuarantineLimits): number {
    let dropped = this.purge(l.maxAgeMs, now);
    const del = this.c.stmt('qDel', 'DELETE FROM quarantine WHERE id = ?');
    const trim = (statsSql: string, oldestSql: string, args: unknown[], maxCount: number, maxBytes: number): void => {
      let { n, b } = this.c.stmt(statsSql, statsSql).get(...args) as { n: number; b: number };
      while (n > 0 && (n + 1 > maxCount || b + size > maxBytes)) {
        const rows = this.c.stmt(oldestSql, oldestSql).all(...args) as { id: number; len: number }[];
        if (rows.length === 0) break;
        for (const r of rows) {
          if (!(n + 1 > maxCount || b + size > maxBytes)) break;
          del.run(r.id);
          n--;
          b -= r.len;
          dropped++;
        }
      }
    };
    const sel = 'SELECT id, length(envelope) AS len FROM quarantine';
    trim(
      'SELECT count(*) AS n, coalesce(sum(length(envelope)), 0) AS b FROM quarantine WHERE bucket IS ?',
      `${sel} WHERE bucket IS ? ORDER BY id LIMIT 64`,
      [bucket],
      l.perSender,
      l.perSenderBytes,
    );
    const total = 'SELECT count(*) AS n, coalesce(sum(length(envelope)), 0) AS b FROM quarantine';
    trim(total, `${sel} ORDER BY bucket IS NOT NULL, id LIMIT 64`, [], l.count, l.bytes);
    return dropped;
  }

  /** Removes every quarantined entry whose recorded sender key is `signPk`; returns how many. */
  discardFrom(signPk: Uint8Array): number {
    return this.c.transaction(() => {
      let n = 0;
      for (const e of this.list({ senderSignPk: signPk })) if (this.remove(e.id)) n++;
      return n;
    });
  }

  /** Quarantined envelopes, oldest first, optionally only one reason or one sender key. */
  list(filter: { reason?: string; senderSignPk?: Uint8Array } = {}): QuarantineEntry[] {
    return this.c.run(() => {
      const rows = this.c.stmt('qList', 'SELECT * FROM quarantine ORDER BY id').all() as { id: number; eid: string; received_at: number; envelope: Buffer; info: Buffer }[];
      const out: QuarantineEntry[] = [];
      for (const r of rows) {
        const info = openQuarantineInfo(u8(r.info), this.c.key, r.eid);
        if (filter.reason !== undefined && info.reason !== filter.reason) continue;
        if (filter.senderSignPk !== undefined && !(info.senderSignPk && bytesEqual(info.senderSignPk, filter.senderSignPk))) continue;
        const e: QuarantineEntry = { id: r.id, eid: r.eid, envelope: u8(r.envelope), reason: info.reason, receivedAt: r.received_at };
        if (info.senderSignPk) e.senderSignPk = info.senderSignPk;
        out.push(e);
      }
      return out;
    });
  }

  remove(id: number): boolean {
    return this.c.run(() => this.c.stmt('qDel', 'DELETE FROM quarantine WHERE id = ?').run(id).changes === 1);
  }
}
