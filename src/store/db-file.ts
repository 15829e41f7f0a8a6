/**
 * The SQLite file under the local store (src/store/db.ts), and its driver: better-sqlite3 is
 * loaded only when a store is opened (createRequire), so commands that never open the store do
 * not pay for the native module. Opening creates the file 0600 (tightening it and its -wal and
 * -shm if they are not), sets the connection's pragmas, migrates the schema forward
 * (src/store/db-schema.ts) under the write lock and checks the history key against the file's
 * check value. mapError turns the driver's errors into the store's HushErrors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { DataError, HushError, InternalError } from '../errors.js';
import { checkMatches, makeCheck, storeCorrupt } from './db-codec.js';
import { MIGRATIONS, STORE_SCHEMA_VERSION } from './db-schema.js';
import { u8 } from './db-util.js';

/** Maps driver errors to HushErrors; HushErrors pass through. */
export function mapError(e: unknown, file: string): HushError {
  if (e instanceof HushError) return e;
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : '';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return storeCorrupt('the database file is damaged or is not a hush store', e);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new InternalError('STORE_BUSY', 'the local store is locked by another hush process', { hint: 'try again in a moment', cause: e });
  }
  if (code === 'SQLITE_FULL') return new InternalError('STORE_FULL', 'the disk holding the local store is full', { hint: 'free some space and try again', cause: e });
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new InternalError('UNKNOWN_CONTACT_ID', 'no contact has that id', { cause: e });
  if (code.startsWith('SQLITE_IOERR')) {
    // A failed read or write of an open store: a full disk, a quota, a file-size limit (EFBIG), a failing device.
    return new InternalError('STORE_IO', `cannot read or write the local store ${file}`, {
      hint: 'check the free space and the file-size limit (ulimit -f) of its disk, and the permissions of the hush home directory',
      cause: e,
    });
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || /^E[A-Z]+$/.test(code)) {
    return new InternalError('STORE_IO', `cannot read or write the local store ${file}`, { hint: 'check the permissions of the hush home directory', cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new InternalError('STORE_FAILED', `the local store failed: ${msg.toLowerCase()}`, { cause: e });
}

let driver: typeof BetterSqlite3 | undefined;
function loadDriver(): typeof BetterSqlite3 {
  driver ??= createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  return driver;
}

/** Creates `file` with mode 0600 if it does not exist, and tightens it if it does. */
export function ensurePrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** Creates the file's directory (0700) and the file (0600) if missing, and opens it. */
export function openFile(file: string, busyTimeoutMs: number): BetterSqlite3.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  ensurePrivateFile(file);
  const Database = loadDriver();
  return new Database(file, { timeout: busyTimeoutMs });
}

/**
 * Runs `fn` again while it fails with SQLITE_BUSY, for up to `timeoutMs`: for the steps of an
 * open (pragmas, migration, key check; each idempotent), where SQLITE_BUSY reached the caller
 * when three processes opened a new file at once on a loaded machine, the busy handler
 * notwithstanding (test/unit/store-concurrency.test.ts, seen once).
 */
export function retryBusy<T>(fn: () => T, timeoutMs: number): T {
  const until = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      return fn();
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      if (!code.startsWith('SQLITE_BUSY') || Date.now() + wait > until) throw e;
      Atomics.wait(pause, 0, 0, wait); // a synchronous sleep: the store's API is synchronous
    }
  }
}

/** WAL, synchronous=FULL, foreign keys; temporary data in memory; a 32 MiB page cache. */
export function setPragmas(db: BetterSqlite3.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Temporary tables and statement journals in memory, not in files under /var/tmp: a
  // multi-row UPDATE of a table with CHECK and foreign-key constraints (a pull's read
  // marks) journals the pages it changes, and those are pages of this store.
  db.pragma('temp_store = MEMORY');
  // A page cache large enough for a whole received batch and its read marks (~32 MiB at
  // most, used only as pages are touched): the default 2 MiB spills dirty pages into the
  // WAL mid-transaction and re-reads index pages (performance only; same durability).
  db.pragma('cache_size = -32768');
}

/** Runs MIGRATIONS up to STORE_SCHEMA_VERSION in one IMMEDIATE transaction; UNSUPPORTED_VERSION for a newer file. */
export function migrate(db: BetterSqlite3.Database): void {
  const tooNew = (v: number) =>
    new DataError('UNSUPPORTED_VERSION', `the local store has schema version ${v}, newer than this hush understands (${STORE_SCHEMA_VERSION})`, {
      hint: 'upgrade hush',
    });
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v > STORE_SCHEMA_VERSION) throw tooNew(v);
  if (v === STORE_SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read under the write lock: another process may have migrated meanwhile.
    let cur = db.pragma('user_version', { simple: true }) as number;
    if (cur > STORE_SCHEMA_VERSION) throw tooNew(cur);
    for (; cur < STORE_SCHEMA_VERSION; cur++) MIGRATIONS[cur]!(db);
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
  }).immediate();
}

/** Writes the key check value on first use; STORE_KEY_MISMATCH when the file was made with another key. */
export function checkKey(db: BetterSqlite3.Database, key: Uint8Array): void {
  const get = () => db.prepare("SELECT value FROM meta WHERE key = 'check'").get() as { value: unknown } | undefined;
  let row = get();
  if (!row) {
    db.transaction(() => {
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('check', ?)").run(makeCheck(key));
    }).immediate();
    row = get();
  }
  if (!row || !(row.value instanceof Uint8Array)) throw storeCorrupt('the key check value is missing');
  if (!checkMatches(u8(row.value), key)) {
    throw new DataError('STORE_KEY_MISMATCH', 'the local store was made with another keyring', {
      hint: 'use the keyring that created this hush home, or move hush.db aside to start an empty history',
    });
  }
}
