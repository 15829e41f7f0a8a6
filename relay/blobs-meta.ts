/**
 * Blob metadata (docs/PROTOCOL.md §7.8): who uploaded a blob, for whom, its shape, its expiry,
 * whether it is finished and which recipients acked it. Behind a small interface that the Redis
 * store implements too (relay/blobs-redis.ts); the bytes themselves always stay in files
 * (relay/blobs-files.ts, docs/ARCHITECTURE.md "Blobs").
 *
 * The embedded implementation is its own SQLite file, `DATA/blobs/index.sqlite`, so that the
 * mail store's schema (relay/store.ts) is untouched. Keys are base64 signing keys, as in the
 * handlers; the uploader is stored because quotas are per uploader.
 */
import type Database from 'better-sqlite3';
import { sqliteDriver } from './cjs-deps.js';
import { join } from 'node:path';

export interface BlobRecord {
  /** 32 lowercase hex characters. */
  id: string;
  /** The uploader's signing key (base64). */
  uploader: string;
  bytes: number;
  chunk: number;
  chunks: number;
  created: number;
  expires: number;
  done: boolean;
  /** Recipient signing keys (base64) and whether each acked. */
  recipients: { key: string; acked: boolean }[];
}

/** The blob quotas create() checks (--blob-quota-uploader, --blob-quota-recipient), in bytes. */
export interface BlobQuota {
  uploader: number;
  recipient: number;
}

/** Which quota a new blob would pass, and the bytes it would make (create() then wrote nothing). */
export interface BlobQuotaMiss {
  who: 'uploader' | 'recipient';
  bytes: number;
}

/** A value, or a promise of it: SQLite answers at once, Redis (relay/blobs-redis.ts) after a round trip. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The storage contract for blob metadata. Every method is atomic, also across relay processes
 * that share the store: create() checks both quotas and writes in one step.
 */
export interface BlobMetaStore {
  /** Stores `r` unless the uploader's unexpired blobs, or a recipient's unacked ones, would pass `quota` with it. */
  create(r: BlobRecord, quota: BlobQuota, now: number): Awaitable<BlobQuotaMiss | undefined>;
  get(id: string): Awaitable<BlobRecord | undefined>;
  finish(id: string): Awaitable<void>;
  /** Marks `recipient`'s ack; returns how many recipients have not acked yet (-1: not a recipient). */
  ack(id: string, recipient: string): Awaitable<number>;
  delete(id: string): Awaitable<void>;
  /** Ids of the blobs expired at `now`. */
  expired(now: number): Awaitable<string[]>;
  close(): Awaitable<void>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  id       TEXT PRIMARY KEY,
  uploader TEXT NOT NULL,
  bytes    INTEGER NOT NULL,
  chunk    INTEGER NOT NULL,
  chunks   INTEGER NOT NULL,
  created  INTEGER NOT NULL,
  expires  INTEGER NOT NULL,
  done     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS blobs_uploader ON blobs (uploader);
CREATE INDEX IF NOT EXISTS blobs_expires ON blobs (expires);
CREATE TABLE IF NOT EXISTS blob_recipients (
  id        TEXT NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  acked     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (id, recipient)
);
CREATE INDEX IF NOT EXISTS blob_recipients_recipient ON blob_recipients (recipient);
`;

interface Row {
  id: string;
  uploader: string;
  bytes: number;
  chunk: number;
  chunks: number;
  created: number;
  expires: number;
  done: number;
}

/** The embedded BlobMetaStore: SQLite in WAL mode, synchronous=FULL (a finished blob survives a crash). */
export class SqliteBlobMeta implements BlobMetaStore {
  private readonly db: Database.Database;

  constructor(dir: string) {
    this.db = new (sqliteDriver())(join(dir, 'index.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  create(r: BlobRecord, quota: BlobQuota, now: number): BlobQuotaMiss | undefined {
    return this.db.transaction((): BlobQuotaMiss | undefined => {
      const mine = this.uploaderBytes(r.uploader, now) + r.bytes;
      if (mine > quota.uploader) return { who: 'uploader', bytes: mine };
      for (const k of r.recipients) {
        const theirs = this.recipientBytes(k.key, now) + r.bytes;
        if (theirs > quota.recipient) return { who: 'recipient', bytes: theirs };
      }
      this.db
        .prepare('INSERT INTO blobs (id, uploader, bytes, chunk, chunks, created, expires, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.id, r.uploader, r.bytes, r.chunk, r.chunks, r.created, r.expires, r.done ? 1 : 0);
      const ins = this.db.prepare('INSERT OR IGNORE INTO blob_recipients (id, recipient, acked) VALUES (?, ?, 0)');
      for (const k of r.recipients) ins.run(r.id, k.key);
      return undefined;
    })();
  }

  /** get()'s two statements, prepared once: a download asks for the record once per chunk. */
  private readonly getRow = (): Database.Statement => (this.getRowStmt ??= this.db.prepare('SELECT * FROM blobs WHERE id = ?'));
  private readonly getRecipients = (): Database.Statement =>
    (this.getRecipientsStmt ??= this.db.prepare('SELECT recipient, acked FROM blob_recipients WHERE id = ? ORDER BY recipient'));
  private getRowStmt: Database.Statement | undefined;
  private getRecipientsStmt: Database.Statement | undefined;

  get(id: string): BlobRecord | undefined {
    const row = this.getRow().get(id) as Row | undefined;
    if (!row) return undefined;
    const recipients = (this.getRecipients().all(id) as { recipient: string; acked: number }[]).map((x) => ({ key: x.recipient, acked: x.acked === 1 }));
    return { ...row, done: row.done === 1, recipients };
  }

  finish(id: string): void {
    this.db.prepare('UPDATE blobs SET done = 1 WHERE id = ?').run(id);
  }

  ack(id: string, recipient: string): number {
    return this.db.transaction(() => {
      const r = this.db.prepare('UPDATE blob_recipients SET acked = 1 WHERE id = ? AND recipient = ?').run(id, recipient);
      if (r.changes === 0) return -1;
      return (this.db.prepare('SELECT count(*) AS n FROM blob_recipients WHERE id = ? AND acked = 0').get(id) as { n: number }).n;
    })();
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM blobs WHERE id = ?').run(id);
  }

  /** Bytes of the unexpired blobs of `uploader`. */
  uploaderBytes(uploader: string, now: number): number {
    return (this.db.prepare('SELECT coalesce(sum(bytes), 0) AS n FROM blobs WHERE uploader = ? AND expires > ?').get(uploader, now) as { n: number }).n;
  }

  /** Bytes of the unexpired blobs that `recipient` has not acked. */
  recipientBytes(recipient: string, now: number): number {
    return (
      this.db
        .prepare('SELECT coalesce(sum(b.bytes), 0) AS n FROM blob_recipients r JOIN blobs b ON b.id = r.id WHERE r.recipient = ? AND r.acked = 0 AND b.expires > ?')
        .get(recipient, now) as { n: number }
    ).n;
  }

  expired(now: number): string[] {
    return (this.db.prepare('SELECT id FROM blobs WHERE expires <= ?').all(now) as { id: string }[]).map((r) => r.id);
  }

  /** Every id (the sweep of orphan files at start). */
  ids(): string[] {
    return (this.db.prepare('SELECT id FROM blobs').all() as { id: string }[]).map((r) => r.id);
  }

  close(): void {
    this.db.close();
  }
}
