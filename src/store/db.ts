/**
 * The client's local store: one SQLite file, `<home>/hush.db` (docs/PROTOCOL.md §8).
 *
 * - Contacts, message bodies and ids, outbox references, quarantine details and kv values are
 *   sealed under the identity's history key (src/store/db-codec.ts); a stolen home without the
 *   passphrase yields no message text, no contact names and no contact keys.
 * - WAL, busy_timeout, synchronous=FULL; every multi-step change runs in one IMMEDIATE
 *   transaction, so two hush processes may use one home at once.
 * - better-sqlite3 is loaded only when a store is opened, so commands that never open the
 *   store do not pay for the native module (src/store/db-file.ts: the file and its driver,
 *   pragmas, migration and key check, and the driver's errors as HushErrors).
 * - HushStore holds the connection, its named statement cache and the transactions; each table
 *   has its own file, reached through forwarding methods (contacts: db-contacts.ts, messages:
 *   db-messages.ts, outbox: db-outbox.ts, quarantine: db-quarantine.ts) or a property (`v2`:
 *   db-sessions.ts, `groups`: db-groups.ts); the kv values stay here.
 *
 * Errors: DataError STORE_CORRUPT (not a database, damaged pages, a record that does not
 * decrypt or does not match its row), STORE_KEY_MISMATCH (made with another keyring),
 * UNSUPPORTED_VERSION (a newer schema); InternalError STORE_BUSY / STORE_FULL / STORE_IO /
 * STORE_FAILED / BAD_ARGUMENT for the environment and for programming errors; TrustError
 * for contact conflicts.
 */
import * as path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { InternalError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { KEY_BYTES } from '../crypto/nacl.js';
import { type Contact, type Direction, openKv, sealKv } from './db-codec.js';
import { checkKey, ensurePrivateFile, mapError, migrate, openFile, retryBusy, setPragmas } from './db-file.js';
import { DEFAULT_QUARANTINE_LIMITS, type NewQuarantineEntry, type QuarantineEntry, type QuarantineLimits, QuarantineTable, type TableContext } from './db-quarantine.js';
import { badArg, u8 } from './db-util.js';
import { V2Tables } from './db-sessions.js';
import { GroupTables } from './db-groups.js';
import { ContactTable, type PinResult } from './db-contacts.js';
import { type NewOutboxEntry, type OutboxEntry, OutboxTable } from './db-outbox.js';
import { type HistoryQuery, MessageTable, type MessageStatus, type NewMessage, type StoredMessage } from './db-messages.js';

export type { Contact, ContactState, Direction, MessageBody } from './db-codec.js';
export { STORE_SCHEMA_VERSION } from './db-schema.js';
export { relayHost, type PinResult } from './db-contacts.js';
export type { HistoryQuery, MessageStatus, NewMessage, StoredMessage } from './db-messages.js';
export type { NewOutboxEntry, OutboxEntry } from './db-outbox.js';
export { DEFAULT_QUARANTINE_LIMITS, type NewQuarantineEntry, type QuarantineEntry, type QuarantineLimits } from './db-quarantine.js';

export const STORE_FILE = 'hush.db';
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export interface OpenOptions {
  busyTimeoutMs?: number;
  /** Clock for default timestamps (tests). */
  now?: () => number;
}

type Stmt = BetterSqlite3.Statement<unknown[], unknown>;

export class HushStore {
  /** Absolute path of the SQLite file. */
  readonly file: string;
  private readonly db: BetterSqlite3.Database;
  private readonly key: Uint8Array;
  private readonly now: () => number;
  private readonly stmts = new Map<string, Stmt>();
  private closed = false;
  /** Transactions open (outermost = 1). */
  private txDepth = 0;
  private readonly q: QuarantineTable;
  private readonly contacts: ContactTable;
  private readonly messages: MessageTable;
  private readonly outbox: OutboxTable;
  /** Prekey secrets and v2 sessions (schema 3, src/store/db-sessions.ts); use inside transaction(). */
  readonly v2: V2Tables;
  /** Groups, their change logs and posts (schema 4, src/store/db-groups.ts). */
  readonly groups: GroupTables;

  private constructor(file: string, db: BetterSqlite3.Database, key: Uint8Array, now: () => number) {
    this.file = file;
    this.db = db;
    this.key = key;
    this.now = now;
    const c: TableContext = { stmt: (n, sql) => this.stmt(n, sql), run: (fn) => this.run(fn), transaction: (fn) => this.transaction(fn), key, now };
    this.q = new QuarantineTable(c);
    this.v2 = new V2Tables(c);
    this.groups = new GroupTables(c);
    this.contacts = new ContactTable(c, this.v2);
    this.messages = new MessageTable(c, this.groups);
    this.outbox = new OutboxTable(c, this.messages, this.groups);
  }

  /**
   * Opens (creating if needed) `<home>/hush.db` for the identity whose history key is given.
   * Creates `home` (0700) if missing, migrates the schema forward, and checks the key.
   */
  static open(home: string, historyKey: Uint8Array, opts: OpenOptions = {}): HushStore {
    if (!(historyKey instanceof Uint8Array) || historyKey.length !== KEY_BYTES) throw badArg(`the history key must be ${KEY_BYTES} bytes`);
    const file = path.resolve(home, STORE_FILE);
    let db: BetterSqlite3.Database | undefined;
    try {
      const busy = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
      const opened = (db = openFile(file, busy));
      retryBusy(() => {
        setPragmas(opened);
        migrate(opened);
        checkKey(opened, historyKey);
      }, busy);
      ensurePrivateFile(file);
      return new HushStore(file, db, historyKey.slice(), opts.now ?? Date.now);
    } catch (e) {
      try {
        db?.close();
      } catch {
        // already failing; the first error is the one to report
      }
      throw mapError(e, file);
    }
  }

  /** Closes the database and forgets the key. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.contacts.dropCache();
    this.key.fill(0);
    this.db.close();
  }

  /** The schema version recorded in the file (PRAGMA user_version). */
  schemaVersion(): number {
    return this.run(() => this.db.pragma('user_version', { simple: true }) as number);
  }

  /**
   * Runs `fn` (synchronous) in one IMMEDIATE transaction: it holds the write lock from the
   * start, so it never fails half-way with SQLITE_BUSY. Nested calls become savepoints.
   * If `fn` throws, everything it wrote is rolled back.
   */
  transaction<T>(fn: () => T): T {
    return this.run(() => {
      const wrapped = this.db.transaction(() => {
        const r = fn();
        if (r instanceof Promise) throw badArg('a store transaction must be synchronous');
        return r;
      });
      if (this.txDepth === 0) this.contacts.txOpened();
      this.txDepth++;
      try {
        return wrapped.immediate();
      } catch (e) {
        this.contacts.dropCache();
        throw e;
      } finally {
        this.txDepth--;
        if (this.txDepth === 0) this.contacts.txClosed();
      }
    });
  }

  // --- contacts (src/store/db-contacts.ts) ----------------------------------------------

  /** All contacts, ordered by id. */
  listContacts(): Contact[] {
    return this.contacts.listContacts();
  }

  getContact(id: number): Contact | undefined {
    return this.contacts.getContact(id);
  }

  findContactByName(name: string): Contact | undefined {
    return this.contacts.findContactByName(name);
  }

  /** The contact the user addresses as `label` (a name, or name@host:port for a second one). */
  findContactByLabel(label: string): Contact | undefined {
    return this.contacts.findContactByLabel(label);
  }

  /** Every contact whose bundle carries `name` (from any relay). */
  findContactsByName(name: string): Contact[] {
    return this.contacts.findContactsByName(name);
  }

  /** Matches the pinned key only (not a pending one). */
  findContactBySignPk(signPk: Uint8Array): Contact | undefined {
    return this.contacts.findContactBySignPk(signPk);
  }

  /** The contact whose pending (changed, not yet accepted) key is `signPk`. */
  findContactByPendingSignPk(signPk: Uint8Array): Contact | undefined {
    return this.contacts.findContactByPendingSignPk(signPk);
  }

  /** Trust on first use: 'new', 'known' or 'changed' (see ContactTable.pinContact). */
  pinContact(bundle: Bundle, pinnedAt?: number, relay?: string, reserved: readonly string[] = []): PinResult {
    return this.contacts.pinContact(bundle, pinnedAt, relay, reserved);
  }

  /** Refuses the pending key of contact `id` (`hush trust NAME --reject`). */
  rejectPendingKey(id: number): { contact: Contact; rejected: Bundle } {
    return this.contacts.rejectPendingKey(id);
  }

  /** Records the relay a contact pinned before contact records version 2 came from. */
  adoptRelay(relay: string): number {
    return this.contacts.adoptRelay(relay);
  }

  /** Marks the pinned key as compared out of band. */
  markVerified(id: number): Contact {
    return this.contacts.markVerified(id);
  }

  /** Records that `newBundle` (same name, other keys) was seen for contact `id`. */
  recordKeyChange(id: number, newBundle: Bundle, seenAt?: number): Contact {
    return this.contacts.recordKeyChange(id, newBundle, seenAt);
  }

  /** Pins the pending key of contact `id` (after `hush trust`). */
  acceptNewKey(id: number, pinnedAt?: number): Contact {
    return this.contacts.acceptNewKey(id, pinnedAt);
  }

  // --- messages (src/store/db-messages.ts) ----------------------------------------------

  /** Stores one message; false when a message with that id and direction was already stored. */
  addMessage(m: NewMessage): boolean {
    return this.messages.addMessage(m);
  }

  /** Stores many messages in one transaction; result[i] says whether messages[i] was new. */
  addMessages(messages: readonly NewMessage[]): boolean[] {
    return this.messages.addMessages(messages);
  }

  /** Moves the status of the given messages forward (never back); returns how many rows changed. */
  setStatus(msgIds: readonly Uint8Array[], status: MessageStatus, direction: Direction = 'out'): number {
    return this.messages.setStatus(msgIds, status, direction);
  }

  /** One message by id and direction, or undefined. */
  findMessage(msgId: Uint8Array, direction: Direction): StoredMessage | undefined {
    return this.messages.findMessage(msgId, direction);
  }

  /** Marks these incoming messages read; per contact id, the ids that moved (by keyed tag). */
  markIncomingRead(msgIds: readonly Uint8Array[]): Map<number, Uint8Array[]> {
    return this.messages.markIncomingRead(msgIds);
  }

  /** markIncomingRead for messages whose rows the caller knows (by runs of row ids). */
  markIncomingReadRows(rows: readonly { row: number; msgId: Uint8Array }[]): Map<number, Uint8Array[]> {
    return this.messages.markIncomingReadRows(rows);
  }

  /** Decrypted history, oldest first (the newest `limit` when a limit is given). */
  history(q: HistoryQuery = {}): StoredMessage[] {
    return this.messages.history(q);
  }

  /** The time for a new outgoing message to `contactId` (strictly increasing per conversation). */
  nextOutTime(contactId: number, now: number): number {
    return this.messages.nextOutTime(contactId, now);
  }

  /** Has any message been written to `contactId` (an outgoing row, or a copy of a group post of ours)? */
  hasWrittenTo(contactId: number): boolean {
    return this.messages.hasWrittenTo(contactId);
  }

  /** The highest message row id (0 for none): where a reader starts showing new messages. */
  lastMessageRow(): number {
    return this.messages.lastMessageRow();
  }

  /** Incoming messages stored after row `afterRow` (by any process), in storage order. */
  incomingAfter(afterRow: number, limit = 1000, upTo = Number.MAX_SAFE_INTEGER): StoredMessage[] {
    return this.messages.incomingAfter(afterRow, limit, upTo);
  }

  countMessages(contactId?: number): number {
    return this.messages.countMessages(contactId);
  }

  /** Has another connection committed since the last call? (PRAGMA data_version) */
  dataVersion(): number {
    return this.run(() => this.stmt('dataVersion', 'PRAGMA data_version').pluck().get() as number);
  }

  // --- outbox (src/store/db-outbox.ts) -------------------------------------------------

  /** Queues a sealed envelope; false when that eid is already queued. */
  enqueueOutbox(e: NewOutboxEntry): boolean {
    return this.outbox.enqueueOutbox(e);
  }

  /** Everything waiting, oldest first. */
  listOutbox(): OutboxEntry[] {
    return this.outbox.listOutbox();
  }

  /** Removes an entry once the relay accepted it; false when it was not there. */
  removeOutbox(eid: string): boolean {
    return this.outbox.removeOutbox(eid);
  }

  /** The contact's waiting v1 envelopes become due now (a v2 session with it just started). */
  v1DueNow(contactId: number, now: number): number {
    return this.outbox.v1DueNow(contactId, now);
  }

  /** The relay accepted `eid`: it leaves the outbox and its message becomes 'sent' (one transaction). */
  completeOutbox(eid: string): boolean {
    return this.outbox.completeOutbox(eid);
  }

  /** completeOutbox for each eid, in one transaction (one status update for all of them). */
  completeOutboxMany(eids: readonly string[]): boolean[] {
    return this.outbox.completeOutboxMany(eids);
  }

  /** Counts a failed attempt; returns the new count (undefined when the eid is not queued). */
  bumpAttempts(eid: string): number | undefined {
    return this.outbox.bumpAttempts(eid);
  }

  // --- quarantine (src/store/db-quarantine.ts) --------------------------------------------

  /** Keeps an envelope that was not shown, within `limits` (see QuarantineTable.add). */
  quarantine(q: NewQuarantineEntry, limits: QuarantineLimits = DEFAULT_QUARANTINE_LIMITS): { id: number; isNew: boolean; dropped: number } {
    return this.q.add(q, limits);
  }

  /** Deletes quarantined entries older than `maxAgeMs`; returns how many. */
  purgeQuarantine(maxAgeMs: number, now = this.now()): number {
    return this.q.purge(maxAgeMs, now);
  }

  /** Removes every quarantined entry whose recorded sender key is `signPk`; returns how many. */
  discardQuarantineFrom(signPk: Uint8Array): number {
    return this.q.discardFrom(signPk);
  }

  /** Quarantined envelopes, oldest first, optionally only one reason or one sender key. */
  listQuarantine(filter: { reason?: string; senderSignPk?: Uint8Array } = {}): QuarantineEntry[] {
    return this.q.list(filter);
  }

  removeQuarantine(id: number): boolean {
    return this.q.remove(id);
  }

  // --- kv (encrypted values, e.g. a pull cursor) -----------------------------------------

  getValue(key: string): string | undefined {
    return this.run(() => {
      const r = this.stmt('kvGet', 'SELECT value FROM kv WHERE key = ?').get(key) as { value: Buffer } | undefined;
      return r ? openKv(u8(r.value), this.key, key) : undefined;
    });
  }

  setValue(key: string, value: string): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) throw badArg('kv key must be a non-empty string');
    if (typeof value !== 'string') throw badArg('kv value must be a string');
    this.run(() => this.stmt('kvSet', 'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, sealKv(key, value, this.key)));
  }

  deleteValue(key: string): boolean {
    return this.run(() => this.stmt('kvDel', 'DELETE FROM kv WHERE key = ?').run(key).changes === 1);
  }

  // --- internals --------------------------------------------------------------------------

  private run<T>(fn: () => T): T {
    if (this.closed) throw new InternalError('STORE_CLOSED', 'the local store is closed');
    try {
      return fn();
    } catch (e) {
      throw mapError(e, this.file);
    }
  }

  private stmt(name: string, sql: string): Stmt {
    let s = this.stmts.get(name);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(name, s);
    }
    return s;
  }
}
