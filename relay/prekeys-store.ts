/**
 * Where the relay keeps v2 prekeys (docs/PROTOCOL.md §7.8, tables added by schema 3), behind
 * the small PrekeyStore interface that the Redis store implements too (relay/prekeys-redis.ts,
 * §7.8.1).
 *
 * The store never checks signatures: the caller (relay/prekeys.ts) verifies an upload against
 * the identity's registered keys before putPrekeys, and passes the boxPk it verified against.
 * Every method is one transaction, so a one-time prekey is handed out at most once even when
 * several relays share the database file.
 */
import type Database from 'better-sqlite3';
import type { KemKind } from '../src/protocol/prekey-bundle.js';
import type { PrekeyStatus, PrekeyUpload } from '../src/protocol/prekey-upload.js';

/** The prekeys one bundle is made of (the caller adds signPk and boxPk, §9.2). */
export interface TakenPrekeys {
  spk: { id: number; expires: number; pk: Uint8Array; sig: Uint8Array };
  kem: { kind: KemKind; id: number; pk: Uint8Array; sig: Uint8Array };
  opk?: { id: number; pk: Uint8Array };
}

/** A value, or a promise of it: SQLite answers at once, Redis after a round trip. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The storage contract for v2 prekeys, one identity (`signPk`, 32 bytes) at a time. Every method
 * is atomic, also across relay processes sharing the store. Times are ms on the relay's clock.
 */
export interface PrekeyStore {
  /**
   * Applies an upload whose signatures the caller verified over `boxPk`: `spk` and `lastResort`
   * replace the stored ones; one-time keys are added, an id already stored for the identity is
   * ignored (the first key with that id stays). When the identity's stored prekeys were signed
   * over another boxPk (it re-registered with new keys) they are all dropped first. Returns the
   * new status, or 'too-many' (nothing changed) when a one-time pool would pass `cap`.
   */
  putPrekeys(signPk: Uint8Array, boxPk: Uint8Array, upload: PrekeyUpload, cap: number): Awaitable<PrekeyStatus | 'too-many'>;
  /**
   * Takes one bundle's prekeys: the signed prekey (if unexpired at `now` and signed over
   * `boxPk`), a one-time KEM prekey (deleted) or else the last-resort one, and a one-time
   * prekey (deleted) if any is left. With `oneTime` false, no one-time key is taken unless the
   * identity has no last-resort KEM prekey (then a one-time KEM prekey still is). undefined, and
   * nothing deleted, when there is no usable signed prekey or no KEM prekey at all.
   */
  takeBundle(signPk: Uint8Array, boxPk: Uint8Array, now: number, oneTime: boolean): Awaitable<TakenPrekeys | undefined>;
  /** What is stored for the identity (zeros and no signed keys when nothing). */
  prekeyStatus(signPk: Uint8Array): Awaitable<PrekeyStatus>;
  /** Deletes everything stored for the identity (on release). */
  dropPrekeys(signPk: Uint8Array): Awaitable<void>;
  /** Deletes signed prekeys that expired before `now`; returns how many. */
  purgeExpiredPrekeys(now: number): Awaitable<number>;
}

/** Schema 3 (relay/store.ts runs it on a new store and on the migration from 1 or 2). */
export const PREKEY_SCHEMA = `
CREATE TABLE prekey_signed (
  sign_pk     BLOB PRIMARY KEY,
  box_pk      BLOB NOT NULL,
  spk_id      INTEGER,
  spk_expires INTEGER,
  spk_pk      BLOB,
  spk_sig     BLOB,
  lr_id       INTEGER,
  lr_pk       BLOB,
  lr_sig      BLOB
) WITHOUT ROWID;
CREATE TABLE prekey_opk (
  sign_pk BLOB NOT NULL,
  id      INTEGER NOT NULL,
  pk      BLOB NOT NULL,
  PRIMARY KEY (sign_pk, id)
) WITHOUT ROWID;
CREATE TABLE prekey_kem (
  sign_pk BLOB NOT NULL,
  id      INTEGER NOT NULL,
  pk      BLOB NOT NULL,
  sig     BLOB NOT NULL,
  PRIMARY KEY (sign_pk, id)
) WITHOUT ROWID;
CREATE INDEX prekey_signed_expires ON prekey_signed (spk_expires);
`;

const b = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
const u8 = (x: Buffer): Uint8Array => new Uint8Array(x);

interface SignedRow {
  box_pk: Buffer;
  spk_id: number | null;
  spk_expires: number | null;
  spk_pk: Buffer | null;
  spk_sig: Buffer | null;
  lr_id: number | null;
  lr_pk: Buffer | null;
  lr_sig: Buffer | null;
}

class TooMany extends Error {}

export class SqlitePrekeyStore implements PrekeyStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      signed: db.prepare('SELECT box_pk, spk_id, spk_expires, spk_pk, spk_sig, lr_id, lr_pk, lr_sig FROM prekey_signed WHERE sign_pk = ?'),
      newSigned: db.prepare('INSERT INTO prekey_signed (sign_pk, box_pk) VALUES (?, ?) ON CONFLICT (sign_pk) DO NOTHING'),
      setSpk: db.prepare('UPDATE prekey_signed SET spk_id = ?, spk_expires = ?, spk_pk = ?, spk_sig = ? WHERE sign_pk = ?'),
      setLr: db.prepare('UPDATE prekey_signed SET lr_id = ?, lr_pk = ?, lr_sig = ? WHERE sign_pk = ?'),
      addOpk: db.prepare('INSERT OR IGNORE INTO prekey_opk (sign_pk, id, pk) VALUES (?, ?, ?)'),
      addKem: db.prepare('INSERT OR IGNORE INTO prekey_kem (sign_pk, id, pk, sig) VALUES (?, ?, ?, ?)'),
      countOpk: db.prepare('SELECT COUNT(*) AS n FROM prekey_opk WHERE sign_pk = ?'),
      countKem: db.prepare('SELECT COUNT(*) AS n FROM prekey_kem WHERE sign_pk = ?'),
      takeOpk: db.prepare('DELETE FROM prekey_opk WHERE sign_pk = ? AND id = (SELECT MIN(id) FROM prekey_opk WHERE sign_pk = ?) RETURNING id, pk'),
      takeKem: db.prepare('DELETE FROM prekey_kem WHERE sign_pk = ? AND id = (SELECT MIN(id) FROM prekey_kem WHERE sign_pk = ?) RETURNING id, pk, sig'),
      dropSigned: db.prepare('DELETE FROM prekey_signed WHERE sign_pk = ?'),
      dropOpk: db.prepare('DELETE FROM prekey_opk WHERE sign_pk = ?'),
      dropKem: db.prepare('DELETE FROM prekey_kem WHERE sign_pk = ?'),
      purgeSpk: db.prepare('UPDATE prekey_signed SET spk_id = NULL, spk_expires = NULL, spk_pk = NULL, spk_sig = NULL WHERE spk_expires < ?'),
    };
  }

  putPrekeys(signPk: Uint8Array, boxPk: Uint8Array, upload: PrekeyUpload, cap: number): PrekeyStatus | 'too-many' {
    const k = b(signPk);
    try {
      return this.db.transaction(() => {
        const row = this.q.signed.get(k) as SignedRow | undefined;
        if (row && !row.box_pk.equals(b(boxPk))) this.drop(k);
        this.q.newSigned.run(k, b(boxPk));
        if (upload.spk) this.q.setSpk.run(upload.spk.id, upload.spk.expires, b(upload.spk.pk), b(upload.spk.sig), k);
        if (upload.lastResort) this.q.setLr.run(upload.lastResort.id, b(upload.lastResort.pk), b(upload.lastResort.sig), k);
        for (const o of upload.opks ?? []) this.q.addOpk.run(k, o.id, b(o.pk));
        for (const m of upload.kems ?? []) this.q.addKem.run(k, m.id, b(m.pk), b(m.sig));
        const status = this.prekeyStatus(signPk);
        if (status.opks > cap || status.kems > cap) throw new TooMany(); // rolls the transaction back
        return status;
      })();
    } catch (e) {
      if (e instanceof TooMany) return 'too-many';
      throw e;
    }
  }

  takeBundle(signPk: Uint8Array, boxPk: Uint8Array, now: number, oneTime: boolean): TakenPrekeys | undefined {
    const k = b(signPk);
    return this.db.transaction((): TakenPrekeys | undefined => {
      const row = this.q.signed.get(k) as SignedRow | undefined;
      if (!row || !row.box_pk.equals(b(boxPk)) || row.spk_id === null || row.spk_expires === null || row.spk_expires < now) return undefined;
      const hasLr = row.lr_id !== null;
      let kem: TakenPrekeys['kem'] | undefined;
      if (oneTime || !hasLr) {
        const m = this.q.takeKem.get(k, k) as { id: number; pk: Buffer; sig: Buffer } | undefined;
        if (m) kem = { kind: 'one-time', id: m.id, pk: u8(m.pk), sig: u8(m.sig) };
      }
      if (!kem && hasLr) kem = { kind: 'last-resort', id: row.lr_id!, pk: u8(row.lr_pk!), sig: u8(row.lr_sig!) };
      if (!kem) return undefined;
      const out: TakenPrekeys = { spk: { id: row.spk_id, expires: row.spk_expires, pk: u8(row.spk_pk!), sig: u8(row.spk_sig!) }, kem };
      if (oneTime) {
        const o = this.q.takeOpk.get(k, k) as { id: number; pk: Buffer } | undefined;
        if (o) out.opk = { id: o.id, pk: u8(o.pk) };
      }
      return out;
    })();
  }

  prekeyStatus(signPk: Uint8Array): PrekeyStatus {
    const k = b(signPk);
    const row = this.q.signed.get(k) as SignedRow | undefined;
    const s: PrekeyStatus = { opks: (this.q.countOpk.get(k) as { n: number }).n, kems: (this.q.countKem.get(k) as { n: number }).n };
    if (row?.spk_id != null && row.spk_expires != null) s.spk = { id: row.spk_id, expires: row.spk_expires };
    if (row?.lr_id != null) s.lastResort = { id: row.lr_id };
    return s;
  }

  dropPrekeys(signPk: Uint8Array): void {
    this.db.transaction(() => this.drop(b(signPk)))();
  }

  purgeExpiredPrekeys(now: number): number {
    return this.q.purgeSpk.run(now).changes;
  }

  private drop(k: Buffer): void {
    this.q.dropSigned.run(k);
    this.q.dropOpk.run(k);
    this.q.dropKem.run(k);
  }
}
