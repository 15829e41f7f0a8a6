/**
 * The protocol v2 tables of the local store (schema 3, docs/PROTOCOL.md §8.1, §8.2): this
 * device's prekey secrets and its sessions with contacts. Every row's secret part is sealed
 * under the history key like the other records, and repeats the row's clear columns so a
 * record moved to another row fails as STORE_CORRUPT.
 *
 *   prekey record  = 0x01 || u8 kind || u32be id || body
 *       kind 1 (signed X25519):       u64be expires || pk[32] || sk[32] || sig[64]
 *       kind 2 (one-time X25519):     pk[32] || sk[32]
 *       kind 3 / 4 (ML-KEM-768 one-time / last-resort): seed[64] || pk[1184] || sig[64]
 *   session record = 0x01 || u64be contact_id || state (§9.7)
 *
 * Used through HushStore (src/store/db.ts), inside its transactions: the caller commits a
 * session's new state, the deletion of the one-time prekeys it consumed and the message it
 * opened in ONE transaction (src/client/sessions.ts).
 */
import { InternalError } from '../errors.js';
import { concatBytes, readU32be, readU64be, u32be, u64be } from '../protocol/encoding.js';
import { KEM_PK_BYTES, KEM_SEED_BYTES } from '../protocol/prekey-bundle.js';
import { encodeSessionState, parseSessionState, type SessionState } from '../protocol/session-state.js';
import type { KemPrekey, OneTimePrekey, SignedPrekey } from '../crypto/prekeys.js';
import type { HeldSignedPrekey } from '../crypto/pqxdh.js';
import { openSealed, seal, storeCorrupt } from './db-codec.js';
import type { TableContext } from './db-quarantine.js';
import { badArg, checkTime, u8 } from './db-util.js';

const RECORD_VERSION = 1;

/** The `kind` column of `prekeys`. */
export const PREKEY_ROW_KIND = { spk: 1, opk: 2, kem: 3, lastResort: 4 } as const;
export type PrekeyRowKind = keyof typeof PREKEY_ROW_KIND;

export interface StoredSignedPrekey extends SignedPrekey {
  createdAt: number;
  published: boolean;
}

export interface StoredSession {
  /** Row id. */
  row: number;
  /** Bumped by every write: a commit against a stale read is refused (another process moved it). */
  rev: number;
  contactId: number;
  updatedAt: number;
  state: SessionState;
}

/** Prekeys not yet uploaded to the relay (public halves are taken from these). */
export interface UnpublishedPrekeys {
  spk: StoredSignedPrekey[];
  opk: OneTimePrekey[];
  kem: KemPrekey[];
  lastResort: KemPrekey[];
}

function open(sealed: Uint8Array, key: Uint8Array, what: string): Uint8Array {
  const p = openSealed(sealed, key);
  if (!p) throw storeCorrupt(`a ${what} record does not decrypt`);
  return p;
}

function encodePrekey(kind: PrekeyRowKind, id: number, body: Uint8Array, key: Uint8Array): Uint8Array {
  return seal(concatBytes(Uint8Array.of(RECORD_VERSION, PREKEY_ROW_KIND[kind]), u32be(id), body), key);
}

function openPrekey(sealed: Uint8Array, key: Uint8Array, kind: number, id: number, bodyLen: number): Uint8Array {
  const p = open(sealed, key, 'prekey');
  if (p.length !== 6 + bodyLen || p[0] !== RECORD_VERSION || p[1] !== kind || readU32be(p, 2) !== id) throw storeCorrupt('a prekey record does not match its row');
  return p.subarray(6);
}

const SPK_BODY = 8 + 32 + 32 + 64;
const OPK_BODY = 64;
const KEM_BODY = KEM_SEED_BYTES + KEM_PK_BYTES + 64;

type PrekeyRow = { kind: number; id: number; created_at: number; published: number; data: Buffer };
type SessionRow = { id: number; contact_id: number; updated_at: number; rev: number; state: Buffer };

/** The rev of a session changed under us: another process stored it first. The batch is retried. */
export function sessionRaced(): InternalError {
  return new InternalError('SESSION_RACE', 'another hush process changed this session at the same time; try again');
}

export class V2Tables {
  constructor(private readonly c: TableContext) {}

  // --- prekeys ------------------------------------------------------------------------------

  putSignedPrekey(k: SignedPrekey, createdAt: number): void {
    checkTime(createdAt, 'createdAt');
    const body = concatBytes(u64be(k.expires), k.pk, k.sk, k.sig);
    this.insert('spk', k.id, createdAt, body);
  }

  putOneTimePrekey(k: OneTimePrekey, createdAt: number): void {
    this.insert('opk', k.id, createdAt, concatBytes(k.pk, k.sk));
  }

  putKemPrekey(k: KemPrekey, createdAt: number): void {
    this.insert(k.kind === 'one-time' ? 'kem' : 'lastResort', k.id, createdAt, concatBytes(k.seed, k.pk, k.sig));
  }

  private insert(kind: PrekeyRowKind, id: number, createdAt: number, body: Uint8Array): void {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0xffffffff) throw badArg('prekey id must be a u32');
    const data = encodePrekey(kind, id, body, this.c.key);
    this.c.run(() => this.c.stmt('pkInsert', 'INSERT INTO prekeys (kind, id, created_at, published, data) VALUES (?, ?, ?, 0, ?)').run(PREKEY_ROW_KIND[kind], id, createdAt, data));
  }

  /** The signed prekeys held (current and those within their grace period), newest first. */
  signedPrekeys(): StoredSignedPrekey[] {
    return this.rows('pkSpk', 'SELECT * FROM prekeys WHERE kind = 1 ORDER BY created_at DESC, id DESC').map((r) => this.spkOf(r));
  }

  private spkOf(r: PrekeyRow): StoredSignedPrekey {
    const b = openPrekey(u8(r.data), this.c.key, 1, r.id, SPK_BODY);
    return { id: r.id, expires: readU64be(b, 0), pk: b.slice(8, 40), sk: b.slice(40, 72), sig: b.slice(72, 136), createdAt: r.created_at, published: r.published === 1 };
  }

  private opkOf(r: PrekeyRow): OneTimePrekey {
    const b = openPrekey(u8(r.data), this.c.key, 2, r.id, OPK_BODY);
    return { id: r.id, pk: b.slice(0, 32), sk: b.slice(32, 64) };
  }

  private kemOf(r: PrekeyRow): KemPrekey {
    const b = openPrekey(u8(r.data), this.c.key, r.kind, r.id, KEM_BODY);
    return {
      kind: r.kind === 3 ? 'one-time' : 'last-resort',
      id: r.id,
      seed: b.slice(0, KEM_SEED_BYTES),
      pk: b.slice(KEM_SEED_BYTES, KEM_SEED_BYTES + KEM_PK_BYTES),
      sig: b.slice(KEM_SEED_BYTES + KEM_PK_BYTES),
    };
  }

  /** A signed prekey by id, with `retiredAt`: when the next newer one was made (absent for the newest). */
  signedPrekey(id: number): HeldSignedPrekey | undefined {
    const all = this.signedPrekeys();
    const i = all.findIndex((s) => s.id === id);
    if (i < 0) return undefined;
    return i === 0 ? all[0] : { ...all[i]!, retiredAt: all[i - 1]!.createdAt };
  }

  oneTimePrekey(id: number): OneTimePrekey | undefined {
    const r = this.row('pkGet2', 'SELECT * FROM prekeys WHERE kind = 2 AND id = ?', id);
    return r && this.opkOf(r);
  }

  /** A KEM prekey by id (one-time and last-resort ids are drawn from one counter). */
  kemPrekey(id: number): KemPrekey | undefined {
    const r = this.row('pkGetK', 'SELECT * FROM prekeys WHERE kind IN (3, 4) AND id = ? ORDER BY kind LIMIT 1', id);
    return r && this.kemOf(r);
  }

  /** The newest last-resort ML-KEM prekey (the one the relay should serve). */
  lastResortPrekey(): KemPrekey | undefined {
    const r = this.row('pkLastResort', 'SELECT * FROM prekeys WHERE kind = 4 ORDER BY id DESC LIMIT 1');
    return r && this.kemOf(r);
  }

  /** How many prekeys of a kind are held. */
  count(kind: PrekeyRowKind): number {
    return this.c.run(() => this.c.stmt('pkCount', 'SELECT count(*) AS n FROM prekeys WHERE kind = ?').get(PREKEY_ROW_KIND[kind]) as { n: number }).n;
  }

  /** The next free id for a kind (KEM kinds share one counter). */
  nextId(kind: PrekeyRowKind): number {
    const kinds = kind === 'kem' || kind === 'lastResort' ? [3, 4] : [PREKEY_ROW_KIND[kind]];
    const r = this.c.run(() => this.c.stmt(`pkMax${kinds.join('')}`, `SELECT max(id) AS m FROM prekeys WHERE kind IN (${kinds.join(', ')})`).get() as { m: number | null });
    const next = (r.m ?? 0) + 1;
    if (next > 0xffffffff) throw new InternalError('PREKEY_IDS_EXHAUSTED', 'no prekey id is left');
    return next;
  }

  unpublished(): UnpublishedPrekeys {
    const out: UnpublishedPrekeys = { spk: [], opk: [], kem: [], lastResort: [] };
    for (const r of this.rows('pkUnpub', 'SELECT * FROM prekeys WHERE published = 0 ORDER BY kind, id')) {
      if (r.kind === 1) out.spk.push(this.spkOf(r));
      else if (r.kind === 2) out.opk.push(this.opkOf(r));
      else if (r.kind === 3) out.kem.push(this.kemOf(r));
      else out.lastResort.push(this.kemOf(r));
    }
    return out;
  }

  markPublished(list: readonly { kind: PrekeyRowKind; id: number }[]): void {
    this.c.transaction(() => {
      const s = this.c.stmt('pkPub', 'UPDATE prekeys SET published = 1 WHERE kind = ? AND id = ?');
      for (const k of list) s.run(PREKEY_ROW_KIND[k.kind], k.id);
    });
  }

  /** Deletes one prekey (its secret is gone for good); false when it was not there. */
  deletePrekey(kind: PrekeyRowKind, id: number): boolean {
    return this.c.run(() => this.c.stmt('pkDel', 'DELETE FROM prekeys WHERE kind = ? AND id = ?').run(PREKEY_ROW_KIND[kind], id).changes === 1);
  }

  /** Keeps at most `max` one-time X25519 secrets (the oldest, handed out long ago and never used, go). */
  trimOneTime(max: number, maxKem = Infinity): number {
    return this.c.run(() => {
      let n = this.c.stmt('pkTrim', 'DELETE FROM prekeys WHERE kind = 2 AND id IN (SELECT id FROM prekeys WHERE kind = 2 ORDER BY id DESC LIMIT -1 OFFSET ?)').run(max).changes;
      if (Number.isFinite(maxKem)) {
        n += this.c
          .stmt('pkTrimKem', 'DELETE FROM prekeys WHERE kind = 3 AND id IN (SELECT id FROM prekeys WHERE kind = 3 ORDER BY id DESC LIMIT -1 OFFSET ?)')
          .run(maxKem).changes;
      }
      return n;
    });
  }

  // --- sessions -----------------------------------------------------------------------------

  /** Every session held with a contact, oldest first. */
  sessionsOf(contactId: number): StoredSession[] {
    return this.c.run(() => {
      const rows = this.c.stmt('sesOf', 'SELECT * FROM sessions WHERE contact_id = ? ORDER BY id').all(contactId) as SessionRow[];
      return rows.map((r) => this.sessionOf(r));
    });
  }

  /** Every session of this device, oldest first (the device-wide skipped-key cap reads them all). */
  allSessions(): StoredSession[] {
    return this.c.run(() => (this.c.stmt('sesAll', 'SELECT * FROM sessions ORDER BY id').all() as SessionRow[]).map((r) => this.sessionOf(r)));
  }

  hasSession(contactId: number): boolean {
    return this.c.run(() => this.c.stmt('sesHas', 'SELECT 1 FROM sessions WHERE contact_id = ? LIMIT 1').get(contactId) !== undefined);
  }

  private sessionOf(r: SessionRow): StoredSession {
    const p = open(u8(r.state), this.c.key, 'session');
    if (p.length < 9 || p[0] !== RECORD_VERSION || readU64be(p, 1) !== r.contact_id) throw storeCorrupt('a session record does not match its row');
    let state: SessionState;
    try {
      state = parseSessionState(p.subarray(9));
    } catch (e) {
      throw storeCorrupt('a session record is malformed', e);
    } finally {
      p.fill(0);
    }
    return { row: r.id, rev: r.rev, contactId: r.contact_id, updatedAt: r.updated_at, state };
  }

  /**
   * Writes a session: a new row when `row` is undefined (returns its id), else replaces row
   * `row` if its rev is still `rev` (InternalError SESSION_RACE otherwise: nothing written).
   */
  saveSession(contactId: number, state: SessionState, now: number, row?: number, rev?: number): number {
    checkTime(now, 'now');
    const plain = concatBytes(Uint8Array.of(RECORD_VERSION), u64be(contactId), encodeSessionState(state));
    const data = seal(plain, this.c.key);
    plain.fill(0);
    return this.c.run(() => {
      if (row === undefined) {
        return Number(this.c.stmt('sesIns', 'INSERT INTO sessions (contact_id, updated_at, rev, state) VALUES (?, ?, 0, ?)').run(contactId, now, data).lastInsertRowid);
      }
      const r = this.c
        .stmt('sesUpd', 'UPDATE sessions SET state = ?, updated_at = ?, rev = rev + 1 WHERE id = ? AND contact_id = ? AND rev = ?')
        .run(data, now, row, contactId, rev ?? 0);
      if (r.changes !== 1) throw sessionRaced();
      return row;
    });
  }

  deleteSession(row: number): boolean {
    return this.c.run(() => this.c.stmt('sesDel', 'DELETE FROM sessions WHERE id = ?').run(row).changes === 1);
  }

  /** Forgets every session with a contact (its key changed and was accepted: the next message starts anew). */
  deleteSessionsOf(contactId: number): number {
    return this.c.run(() => this.c.stmt('sesDelC', 'DELETE FROM sessions WHERE contact_id = ?').run(contactId).changes);
  }

  private rows(name: string, sql: string, ...args: unknown[]): PrekeyRow[] {
    return this.c.run(() => this.c.stmt(name, sql).all(...args) as PrekeyRow[]);
  }

  private row(name: string, sql: string, ...args: unknown[]): PrekeyRow | undefined {
    return this.c.run(() => this.c.stmt(name, sql).get(...args) as PrekeyRow | undefined);
  }
}
