/**
 * The relay's SQLite store (better-sqlite3): the name directory and the mailboxes.
 *
 * Durability: WAL journal with synchronous=FULL, so every committed transaction has been
 * fsynced to the WAL before it returns (NORMAL would only risk the last commits on a power cut,
 * which is exactly what `accepted` promises against). Mail is the exception in how, not in
 * what: a batch of inserts commits with NORMAL and is answered only after an fdatasync of the
 * WAL file that began after its commit (insertBatchDurable), which runs on libuv's thread pool
 * while the next batch is read and committed. Inserts that arrive in the same event-loop turn
 * are committed together (group commit, relay/mailbox.ts), which keeps syncs per envelope well
 * below one under load.
 *
 * Mailbox rows hold recipient, eid, envelope, size and arrival time: never the sender.
 * Token rows (schema 2) hold a delivery token's SHA-256 hash, its mailbox and its expiry: never
 * the token, never who holds it (docs/PROTOCOL.md §7.2 "Delivery tokens").
 */
import type Database from 'better-sqlite3';
import { sqliteDriver } from './cjs-deps.js';
import { closeSync, chmodSync, fdatasync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, UsageError } from '../src/errors.js';
import { PREKEY_SCHEMA, SqlitePrekeyStore } from './prekeys-store.js';
import type { DirectoryEntry, NewMail, StoredMail } from './store-api.js';

export type { DirectoryEntry, NewMail, StoredMail } from './store-api.js';

export const SCHEMA_VERSION = 3;

/** better-sqlite3 binds Buffers, not plain Uint8Arrays: a view, no copy (none made for a Buffer). */
const b = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

const SCHEMA = `
CREATE TABLE directory (
  name    TEXT PRIMARY KEY,
  sign_pk BLOB NOT NULL UNIQUE,
  bundle  TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE TABLE mailbox (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  recipient BLOB NOT NULL,
  eid       TEXT NOT NULL,
  env       BLOB NOT NULL,
  size      INTEGER NOT NULL,
  time      INTEGER NOT NULL,
  UNIQUE (recipient, eid)
);
CREATE INDEX mailbox_recipient_seq ON mailbox (recipient, seq);
CREATE INDEX mailbox_time ON mailbox (time);
`;

/** Schema 1 -> 2: delivery tokens (hashes only). */
const TOKENS = `
CREATE TABLE tokens (
  h         BLOB PRIMARY KEY,
  recipient BLOB NOT NULL,
  exp       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_recipient ON tokens (recipient);
CREATE INDEX tokens_exp ON tokens (exp);
`;

const DATA_HINT = 'choose a writable directory with --data (or HUSH_RELAY_DATA)';

/**
 * Makes `dir` (0700) and `dir/relay.sqlite` (0600) before SQLite opens the file, so the store is
 * private from its first byte: SQLite gives the -wal and -shm files the mode of the database.
 * A looser existing file is tightened. Returns the database path; a directory that cannot be
 * made or written is a UsageError RELAY_DATA_DIR (exit 2).
 */
function openPrivate(dir: string): string {
  const fail = (what: string, e: unknown): never => {
    const code = (e as { code?: string }).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'not a directory'
          : code === 'EROFS'
            ? 'read-only file system'
            : (code ?? (e as Error).message);
    throw new UsageError('RELAY_DATA_DIR', `cannot ${what} the relay data directory ${dir} (${why})`, { cause: e, hint: DATA_HINT });
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    fail('create', e);
  }
  try {
    if (!statSync(dir).isDirectory()) fail('use', Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    fail('use', e);
  }
  const file = join(dir, 'relay.sqlite');
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      const fd = openSync(f, f === file ? 'a' : 'r', 0o600); // 'a' creates the database 0600 (umask only removes bits)
      closeSync(fd);
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (f !== file && code === 'ENOENT') continue;
      fail('write to', e);
    }
  }
  return file;
}

/** Mail batches at least this large (or any batch while a sync runs) sync off the main thread (insertBatchDurable). */
const ASYNC_SYNC_MIN = 8;

export class RelayStore {
  private readonly db: Database.Database;
  /** The v2 prekeys (schema 3), in the same database file. */
  readonly prekeys: SqlitePrekeyStore;
  private readonly q;
  private readonly insertTx: (items: readonly NewMail[]) => (number | null)[];
  /** The WAL file, synced off the main thread after a batch of mail is committed (insertBatchDurable). */
  private readonly walFile: string;
  private walFd: number | undefined;
  /** The last batch's disk sync (each batch is answered after the ones before it); undefined once it is done. */
  private syncing: Promise<unknown> | undefined;

  constructor(dir: string) {
    const file = openPrivate(dir);
    this.walFile = `${file}-wal`;
    let db: Database.Database | undefined;
    try {
      db = new (sqliteDriver())(file);
      db.pragma('journal_mode = WAL');
    } catch (e) {
      if (db?.open) db.close();
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new DataError('RELAY_STORE_CORRUPT', `${file} is not a relay store (or it is damaged)`, {
          cause: e,
          hint: 'point --data at another directory, or move that file away',
        });
      }
      throw new UsageError('RELAY_DATA_DIR', `cannot open the relay store in ${dir} (${code ?? (e as Error).message})`, { cause: e, hint: DATA_HINT });
    }
    this.db = db;
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version === 0 || version === 1 || version === 2) {
      // A new store, or a schema-1 or -2 store of an older relay: migrated in one transaction.
      this.db.exec('BEGIN');
      if (version === 0) this.db.exec(SCHEMA);
      if (version <= 1) this.db.exec(TOKENS);
      this.db.exec(PREKEY_SCHEMA); // schema 3: v2 prekeys (relay/prekeys-store.ts)
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      this.db.exec('COMMIT');
    } else if (version !== SCHEMA_VERSION) {
      this.db.close();
      throw new DataError('RELAY_STORE_VERSION', `the relay store has schema version ${version}, this relay knows ${SCHEMA_VERSION}`, {
        hint: 'use a newer hush relay, or another --data directory',
      });
    }
    this.prekeys = new SqlitePrekeyStore(this.db);
    this.q = {
      insert: this.db.prepare('INSERT OR IGNORE INTO mailbox (recipient, eid, env, size, time) VALUES (?, ?, ?, ?, ?)'),
      exists: this.db.prepare('SELECT 1 FROM mailbox WHERE recipient = ? AND eid = ?'),
      pull: this.db.prepare('SELECT seq, eid, env, time FROM mailbox WHERE recipient = ? AND seq > ? AND time > ? ORDER BY seq LIMIT ?'),
      del: this.db.prepare('DELETE FROM mailbox WHERE recipient = ? AND eid = ? RETURNING size'),
      stats: this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM mailbox WHERE recipient = ?'),
      total: this.db.prepare('SELECT COALESCE(SUM(size), 0) AS bytes FROM mailbox'),
      keys: this.db.prepare('SELECT sign_pk AS signPk FROM directory'),
      purge: this.db.prepare('DELETE FROM mailbox WHERE time <= ?'),
      byName: this.db.prepare('SELECT name, sign_pk AS signPk, bundle, created FROM directory WHERE name = ?'),
      byKey: this.db.prepare('SELECT name, sign_pk AS signPk, bundle, created FROM directory WHERE sign_pk = ?'),
      delKey: this.db.prepare('DELETE FROM directory WHERE sign_pk = ?'),
      delName: this.db.prepare('DELETE FROM directory WHERE name = ? AND sign_pk = ?'),
      putName: this.db.prepare('INSERT INTO directory (name, sign_pk, bundle, created, updated) VALUES (?, ?, ?, ?, ?)'),
      tokenPut: this.db.prepare('INSERT INTO tokens (h, recipient, exp) VALUES (?, ?, ?) ON CONFLICT (h) DO UPDATE SET exp = excluded.exp WHERE recipient = excluded.recipient'),
      tokenDel: this.db.prepare('DELETE FROM tokens WHERE h = ? AND recipient = ?'),
      tokenGet: this.db.prepare('SELECT recipient, exp FROM tokens WHERE h = ?'),
      tokenCount: this.db.prepare('SELECT COUNT(*) AS n FROM tokens WHERE recipient = ? AND exp > ?'),
      tokenPurge: this.db.prepare('DELETE FROM tokens WHERE exp <= ?'),
    };
    const insert = this.q.insert;
    this.insertTx = this.db.transaction((list: readonly NewMail[]) => {
      const out = new Array<number | null>(list.length);
      for (let i = 0; i < list.length; i++) {
        const m = list[i]!;
        const r = insert.run(b(m.recipient), m.eid, b(m.env), m.env.length, m.time);
        out[i] = r.changes === 1 ? Number(r.lastInsertRowid) : null;
      }
      return out;
    });
  }

  /** Inserts a batch in one transaction; returns, per item, its seq, or null when the same eid was already stored. */
  insertBatch(items: readonly NewMail[]): (number | null)[] {
    return this.insertTx(items);
  }

  /**
   * insertBatch, resolved once the batch is on disk, without holding the event loop for the
   * disk: this one transaction commits with synchronous=NORMAL (in WAL mode: written to the WAL,
   * not yet synced), then an fdatasync of the WAL file runs on libuv's thread pool while the
   * relay reads, checks and commits the next batch. Every transaction committed before the sync
   * began is durable when it returns, so "accepted" still means on disk (docs/PROTOCOL.md §7.5).
   * Batches resolve in commit order. Checkpoints stay safe: with NORMAL, SQLite syncs the WAL
   * before it checkpoints. A small batch while no sync runs, or no WAL file to open: the commit
   * waits for the disk (synchronous=FULL) as every other write does.
   */
  insertBatchDurable(items: readonly NewMail[]): Promise<(number | null)[]> {
    // A small batch with no sync running (a quiet relay) commits and syncs at once, as every other
    // write does: a hop to the thread pool would only add latency there.
    const fd = items.length < ASYNC_SYNC_MIN && this.syncing === undefined ? undefined : this.wal();
    if (fd === undefined) return Promise.resolve(this.insertTx(items));
    this.db.pragma('synchronous = NORMAL');
    let seqs: (number | null)[];
    try {
      seqs = this.insertTx(items);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    const disk = new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
    const done = Promise.all([this.syncing, disk]).then(() => seqs);
    const mine = done
      .catch(() => undefined)
      .then(() => {
        if (this.syncing === mine) this.syncing = undefined;
      });
    this.syncing = mine;
    return done;
  }

  /** The disk sync of every mail commit so far, or undefined when none is pending. */
  synced(): Promise<unknown> | undefined {
    return this.syncing;
  }

  private wal(): number | undefined {
    if (this.walFd === undefined) {
      try {
        this.walFd = openSync(this.walFile, 'r+');
      } catch {
        return undefined;
      }
    }
    return this.walFd;
  }

  exists(recipient: Uint8Array, eid: string): boolean {
    return this.q.exists.get(b(recipient), eid) !== undefined;
  }

  /**
   * Mail waiting for `recipient` with seq > after, not older than `notBefore`, in order. Stops
   * reading once the envelopes exceed `maxBytes` (that last row is included, so the caller sees
   * there is more): a pull never loads a whole mailbox of large envelopes to answer with 1 MiB.
   */
  pull(recipient: Uint8Array, after: number, notBefore: number, limit: number, maxBytes = Infinity): StoredMail[] {
    const out: StoredMail[] = [];
    let bytes = 0;
    for (const r of this.q.pull.iterate(b(recipient), after, notBefore, limit) as IterableIterator<{ seq: number; eid: string; env: Buffer; time: number }>) {
      out.push({ seq: r.seq, eid: r.eid, env: r.env, time: r.time }); // the row's own Buffer, no copy
      bytes += r.env.length;
      if (bytes > maxBytes) break;
    }
    return out;
  }

  /** Deletes the given eids from `recipient`'s mailbox only; returns count and bytes freed. */
  ack(recipient: Uint8Array, eids: string[]): { count: number; bytes: number } {
    const run = this.db.transaction(() => {
      let count = 0;
      let bytes = 0;
      for (const e of eids) {
        const r = this.q.del.get(b(recipient), e) as { size: number } | undefined;
        if (r) {
          count++;
          bytes += r.size;
        }
      }
      return { count, bytes };
    });
    return run();
  }

  stats(recipient: Uint8Array): { count: number; bytes: number } {
    const r = this.q.stats.get(b(recipient)) as { n: number; bytes: number };
    return { count: r.n, bytes: r.bytes };
  }

  /** Envelope bytes stored over all mailboxes (what --max-store-bytes counts). */
  totalBytes(): number {
    return (this.q.total.get() as { bytes: number }).bytes;
  }

  /** Every registered identity key, as base64 (the relay keeps them in a Set: no query per send). */
  registeredKeys(): string[] {
    return (this.q.keys.all() as { signPk: Buffer }[]).map((r) => r.signPk.toString('base64'));
  }

  /** Deletes mail that arrived at or before `cutoff`; returns how many rows. */
  purge(cutoff: number): number {
    return this.q.purge.run(cutoff).changes;
  }

  /**
   * Adds (or re-dates) and removes token hashes of `recipient`'s mailbox in one transaction. A
   * hash held by another mailbox is left alone. Returns how many unexpired tokens it then has.
   */
  putTokens(recipient: Uint8Array, add: readonly { h: Uint8Array; exp: number }[], remove: readonly Uint8Array[], now: number): number {
    return this.db.transaction(() => {
      for (const h of remove) this.q.tokenDel.run(b(h), b(recipient));
      for (const t of add) this.q.tokenPut.run(b(t.h), b(recipient), t.exp);
      return (this.q.tokenCount.get(b(recipient), now) as { n: number }).n;
    })();
  }

  /** Unexpired tokens of `recipient`'s mailbox. */
  countTokens(recipient: Uint8Array, now: number): number {
    return (this.q.tokenCount.get(b(recipient), now) as { n: number }).n;
  }

  /** The mailbox and expiry a token hash opens, or undefined. */
  token(h: Uint8Array): { recipient: Uint8Array; exp: number } | undefined {
    const r = this.q.tokenGet.get(b(h)) as { recipient: Buffer; exp: number } | undefined;
    return r ? { recipient: new Uint8Array(r.recipient), exp: r.exp } : undefined;
  }

  /** Deletes tokens that expired at or before `now`; returns how many. */
  purgeTokens(now: number): number {
    return this.q.tokenPurge.run(now).changes;
  }

  lookupName(name: string): DirectoryEntry | undefined {
    return this.row(this.q.byName.get(name));
  }

  lookupKey(signPk: Uint8Array): DirectoryEntry | undefined {
    return this.row(this.q.byKey.get(b(signPk)));
  }

  /** Puts `bundle` under `name` for `signPk`, dropping any other name the key held; 'taken' (nothing changed) when another key holds `name`. */
  putBundle(name: string, signPk: Uint8Array, bundle: string, now: number): 'ok' | 'taken' {
    return this.db.transaction(() => {
      const holder = this.q.byName.get(name) as { signPk: Buffer } | undefined;
      if (holder && !holder.signPk.equals(b(signPk))) return 'taken' as const;
      const old = this.q.byKey.get(b(signPk)) as { created: number } | undefined;
      this.q.delKey.run(b(signPk));
      this.q.putName.run(name, b(signPk), bundle, old?.created ?? now, now);
      return 'ok' as const;
    })();
  }

  /**
   * Moves `name` from the key `from` to the key `to` (with `to`'s bundle, dropping any other
   * name `to` held) in one transaction; false, and nothing changed, when `from` does not hold it.
   */
  transferName(name: string, from: Uint8Array, to: Uint8Array, bundle: string, now: number): boolean {
    return this.db.transaction(() => {
      if (this.q.delName.run(name, b(from)).changes !== 1) return false;
      const old = this.q.byKey.get(b(to)) as { created: number } | undefined;
      this.q.delKey.run(b(to));
      this.q.putName.run(name, b(to), bundle, old?.created ?? now, now);
      return true;
    })();
  }

  /** Frees `name` if `signPk` holds it; false when it does not. */
  releaseName(name: string, signPk: Uint8Array): boolean {
    return this.q.delName.run(name, b(signPk)).changes === 1;
  }

  close(): void {
    if (this.db.open) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }

  private row(r: unknown): DirectoryEntry | undefined {
    if (!r) return undefined;
    const x = r as { name: string; signPk: Buffer; bundle: string; created: number };
    return { name: x.name, signPk: new Uint8Array(x.signPk), bundle: x.bundle, created: x.created };
  }
}
