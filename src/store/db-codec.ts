/**
 * Record encryption of the local store (docs/PROTOCOL.md §8.2). Everything that could name or
 * reveal a person or a message is sealed under the identity's 32-byte history key:
 *
 *   sealed = nonce[24] || crypto_secretbox(plaintext, nonce, historyKey)    (fresh random nonce)
 *
 * Each plaintext repeats the clear columns of its row (row id, contact id, direction, time,
 * envelope id), and the reader checks them, so a row's ciphertext cannot be moved to another
 * row or have its clear columns edited without STORE_CORRUPT.
 *
 * Message ids are stored as a keyed tag, never in clear:
 *   tag = SHA-512(D("hush/v1/store-msgid") || historyKey || msgId)[0..16]
 * (a fixed-length prefix-keyed hash, used as a PRF), so two stolen stores cannot be matched
 * message by message.
 */
import { DataError } from '../errors.js';
import { type Bundle, type BundleJson, bundleToJson, parseBundle } from '../protocol/bundle.js';
import { MSG_ID_BYTES, paddedLength as padme } from '../protocol/envelope.js';
import { concatBytes, fromB64, fromUtf8, readU32be, readU64be, toB64, u64be, utf8, writeU32be, writeU64be } from '../protocol/encoding.js';
import { bool, int, isObj, literal, obj, optInt, str } from '../protocol/validate.js';
import { keyedTag16, MAC_BYTES, NONCE_BYTES, randomBytes, SECRETBOX_ZERO_BYTES, secretbox, secretboxOpen, secretboxPadded, secretboxPaddedInto } from '../crypto/nacl.js';

/** Domain strings private to the store (D(x) = utf8(x) || 0x00, as in PROTOCOL.md §1). */
export const STORE_DOMAIN = {
  msgId: 'hush/v1/store-msgid',
  check: 'hush/v1/store-check',
  bucket: 'hush/v1/store-bucket',
} as const;

const RECORD_VERSION = 1;

export function storeCorrupt(what: string, cause?: unknown): DataError {
  return new DataError('STORE_CORRUPT', `the local store is corrupted (${what})`, {
    hint: 'restore hush.db from a backup, or move it aside to start an empty history',
    cause,
  });
}

function domain(d: string): Uint8Array {
  return concatBytes(utf8(d), Uint8Array.of(0));
}
const MSGID_DOMAIN = domain(STORE_DOMAIN.msgId);
const BUCKET_DOMAIN = domain(STORE_DOMAIN.bucket);

export function seal(plain: Uint8Array, key: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  return concatBytes(nonce, secretbox(plain, nonce, key));
}

/** Returns null when the box does not open under `key`. */
export function openSealed(sealed: Uint8Array, key: Uint8Array): Uint8Array | null {
  if (sealed.length < NONCE_BYTES + 16) return null;
  return secretboxOpen(sealed.subarray(NONCE_BYTES), sealed.subarray(0, NONCE_BYTES), key);
}

function open(sealed: Uint8Array, key: Uint8Array, what: string): Uint8Array {
  const p = openSealed(sealed, key);
  if (!p) throw storeCorrupt(`a ${what} record does not decrypt`);
  return p;
}

export function msgTag(msgId: Uint8Array, key: Uint8Array): Uint8Array {
  return keyedTag16(MSGID_DOMAIN, key, msgId);
}

/** The check value in meta: secretbox of D("hush/v1/store-check"); proves the key up front. */
export function makeCheck(key: Uint8Array): Uint8Array {
  return seal(domain(STORE_DOMAIN.check), key);
}

export function checkMatches(sealed: Uint8Array, key: Uint8Array): boolean {
  const p = openSealed(sealed, key);
  if (!p) return false;
  return fromUtf8Safe(p) === `${STORE_DOMAIN.check}\u0000`;
}

function fromUtf8Safe(b: Uint8Array): string | undefined {
  try {
    return fromUtf8(b);
  } catch {
    return undefined;
  }
}

function parseJson(p: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(fromUtf8(p));
  } catch (e) {
    throw storeCorrupt(`a ${what} record is not valid json`, e);
  }
}

function shaped<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw storeCorrupt(`a ${what} record is malformed`, e);
  }
}

// --- contacts -----------------------------------------------------------------------------

export type ContactState = 'trusted' | 'changed';

/** Contact records are version 2 (label, relay, rejected keys); version 1 records still open. */
const CONTACT_VERSION = 2;

export interface Contact {
  /** Row id; stable for the life of the store. */
  id: number;
  /**
   * What the user types and sees: unique among contacts. The bundle's name for the first key
   * pinned under that name; `name@host:port` for another key claiming the same name from
   * another relay (a separate identity, never a key change of the first).
   */
  label: string;
  /** The name the relay's bundle gives (bundle.name); not unique across relays. */
  name: string;
  /**
   * Canonical URL of the relay the key was pinned from; undefined for contacts pinned by a
   * hush before contact records version 2 (treated as pinned from the home's default relay).
   */
  relay?: string;
  /** Identity keys the user refused for this contact (`hush trust NAME --reject`). */
  rejected?: Uint8Array[];
  signPk: Uint8Array;
  boxPk: Uint8Array;
  /** The pinned, signature-checked bundle. */
  bundle: Bundle;
  /** When the current key was pinned (ms). */
  pinnedAt: number;
  /** Compared out of band (`hush trust`) since it was pinned. */
  verified: boolean;
  /** 'changed' while a different key seen for this name waits in `pendingBundle`. */
  state: ContactState;
  pendingBundle?: Bundle;
  pendingSeenAt?: number;
}

interface ContactJson {
  v: 1 | 2;
  id: number;
  label?: string;
  relay?: string;
  rejected?: string[];
  bundle: BundleJson;
  pinnedAt: number;
  verified: boolean;
  state: ContactState;
  pending?: BundleJson;
  pendingSeenAt?: number;
}

export function sealContact(c: Contact, key: Uint8Array): Uint8Array {
  const j: ContactJson = { v: CONTACT_VERSION, id: c.id, label: c.label, bundle: bundleToJson(c.bundle), pinnedAt: c.pinnedAt, verified: c.verified, state: c.state };
  if (c.relay !== undefined) j.relay = c.relay;
  if (c.rejected && c.rejected.length > 0) j.rejected = c.rejected.map((k) => toB64(k));
  if (c.pendingBundle) {
    j.pending = bundleToJson(c.pendingBundle);
    j.pendingSeenAt = c.pendingSeenAt ?? c.pinnedAt;
  }
  return seal(utf8(JSON.stringify(j)), key);
}

export function openContact(rowId: number, sealed: Uint8Array, key: Uint8Array): Contact {
  const o = parseJson(open(sealed, key, 'contact'), 'contact');
  const c = shaped('contact', (): Contact => {
    const r = obj(o, 'contact');
    const v = literal(r, 'v', 'contact', [1, CONTACT_VERSION] as const);
    const id = int(r, 'id', 'contact', 1, Number.MAX_SAFE_INTEGER);
    const bundle = parseBundle(r.bundle, 'contact.bundle');
    const state = literal(r, 'state', 'contact', ['trusted', 'changed'] as const);
    const label = v === 1 ? bundle.name : str(r, 'label', 'contact', { min: 1, max: LABEL_MAX });
    const out: Contact = {
      id,
      label,
      name: bundle.name,
      signPk: bundle.signPk,
      boxPk: bundle.boxPk,
      bundle,
      pinnedAt: int(r, 'pinnedAt', 'contact', 0, 2 ** 48),
      verified: bool(r, 'verified', 'contact'),
      state,
    };
    if (r.pending !== undefined) {
      out.pendingBundle = parseBundle(r.pending, 'contact.pending');
      const seen = optInt(r, 'pendingSeenAt', 'contact', 0, 2 ** 48);
      if (seen !== undefined) out.pendingSeenAt = seen;
    }
    if (v === CONTACT_VERSION) {
      if (r.relay !== undefined) out.relay = str(r, 'relay', 'contact', { min: 1, max: 2048 });
      if (r.rejected !== undefined) {
        if (!Array.isArray(r.rejected) || r.rejected.length > 1000) throw new Error('rejected');
        out.rejected = r.rejected.map((k: unknown) => {
          if (typeof k !== 'string') throw new Error('rejected key');
          const pk = fromB64(k, 'rejected');
          if (pk.length !== 32) throw new Error('rejected key length');
          return pk;
        });
      }
    }
    return out;
  });
  if (c.id !== rowId) throw storeCorrupt('a contact record belongs to another row');
  return c;
}

/** A label is a name (32) + '@' + a relay's host:port (at most 2048 in a URL). */
export const LABEL_MAX = 2100;

// --- messages -----------------------------------------------------------------------------

export type Direction = 'in' | 'out';
export type MessageBody = string | Uint8Array;

/**
 * Version 2 (written):  0x02 || msgId[16] || u8 dir (0 in, 1 out) || u64be(contactId) || u64be(time)
 *                       || u8 bodyType (0 UTF-8 text, 1 bytes) || u32be(bodyLen) || body || 0x00 * pad
 *   padded to padme(39 + bodyLen) bytes (docs/PROTOCOL.md §5.1's Padmé, at least 256), so a stolen
 *   store shows a message's length only to a Padmé bucket, as the relay sees it.
 * Version 1 (still read): 0x01 || msgId[16] || dir || u64be(contactId) || u64be(time) || bodyType || body
 */
const MSG_HEADER = 1 + MSG_ID_BYTES + 1 + 8 + 8 + 1;
const MSG_RECORD_V2 = 2;

/**
 * The record is laid out in crypto_secretbox's padded input (secretboxPadded: one kept array
 * for records up to 8 KiB) and boxed straight behind its nonce (secretboxPaddedInto): the same
 * bytes as seal(plain, key), without the head's seven small arrays, the padded copy and the
 * box's copy (a pull stores 10,000 of them). The kept array is zeroed once boxed.
 */
export function sealMessage(m: { msgId: Uint8Array; direction: Direction; contactId: number; time: number; body: MessageBody }, key: Uint8Array): Uint8Array {
  const text = typeof m.body === 'string';
  const body = text ? utf8(m.body as string) : (m.body as Uint8Array);
  if (m.msgId.length !== MSG_ID_BYTES) throw new DataError('BAD_LENGTH', 'a message id must be 16 bytes');
  const head = MSG_HEADER + 4;
  const len = padme(head + body.length);
  const p = secretboxPadded(len);
  const o = SECRETBOX_ZERO_BYTES;
  try {
    p[o] = MSG_RECORD_V2;
    p.set(m.msgId, o + 1);
    p[o + 1 + MSG_ID_BYTES] = m.direction === 'in' ? 0 : 1;
    writeU64be(p, o + 2 + MSG_ID_BYTES, m.contactId);
    writeU64be(p, o + 10 + MSG_ID_BYTES, m.time);
    p[o + 18 + MSG_ID_BYTES] = text ? 0 : 1;
    writeU32be(p, o + 19 + MSG_ID_BYTES, body.length);
    p.set(body, o + head); // the padding after it is zero (a kept array is zeroed after each seal)
    const out = new Uint8Array(NONCE_BYTES + MAC_BYTES + len);
    const nonce = randomBytes(NONCE_BYTES);
    out.set(nonce);
    secretboxPaddedInto(out, NONCE_BYTES, p, len, nonce, key);
    return out;
  } finally {
    p.fill(0, o, o + len);
  }
}

export function openMessage(
  sealed: Uint8Array,
  key: Uint8Array,
  row: { tag: Uint8Array; direction: Direction; contactId: number; time: number },
): { msgId: Uint8Array; body: MessageBody } {
  const p = open(sealed, key, 'message');
  const v = p[0];
  if (p.length < MSG_HEADER || (v !== RECORD_VERSION && v !== MSG_RECORD_V2)) throw storeCorrupt('a message record is malformed');
  const msgId = p.slice(1, 1 + MSG_ID_BYTES);
  let o = 1 + MSG_ID_BYTES;
  const dir: Direction = p[o] === 0 ? 'in' : 'out';
  const contactId = readU64be(p, o + 1);
  const time = readU64be(p, o + 9);
  o += 17;
  const type = p[o];
  let raw: Uint8Array;
  if (v === MSG_RECORD_V2) {
    if (p.length < MSG_HEADER + 4) throw storeCorrupt('a message record is malformed');
    const len = readU32be(p, o + 1);
    const start = o + 5;
    if (start + len > p.length || p.length !== padme(start + len)) throw storeCorrupt('a message record is malformed');
    for (let i = start + len; i < p.length; i++) if (p[i] !== 0) throw storeCorrupt('a message record is malformed');
    raw = p.subarray(start, start + len);
  } else raw = p.subarray(o + 1);
  const tag = msgTag(msgId, key);
  if (dir !== row.direction || contactId !== row.contactId || time !== row.time || !sameBytes(tag, row.tag)) {
    throw storeCorrupt('a message record does not match its row');
  }
  if (type === 0) return { msgId, body: shaped('message', () => fromUtf8(raw, 'message body')) };
  if (type === 1) return { msgId, body: raw.slice() };
  throw storeCorrupt('a message record is malformed');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// --- outbox -------------------------------------------------------------------------------

/** plaintext = 0x01 || msgId[16] || u64be(contactId) || utf8(eid) */
export function sealOutboxRef(msgId: Uint8Array, contactId: number, eid: string, key: Uint8Array): Uint8Array {
  return seal(concatBytes(Uint8Array.of(RECORD_VERSION), msgId, u64be(contactId), utf8(eid)), key);
}

export function openOutboxRef(sealed: Uint8Array, key: Uint8Array, row: { contactId: number; eid: string }): Uint8Array {
  const p = open(sealed, key, 'outbox');
  if (p.length < 1 + MSG_ID_BYTES + 8 || p[0] !== RECORD_VERSION) throw storeCorrupt('an outbox record is malformed');
  const contactId = readU64be(p, 1 + MSG_ID_BYTES);
  const eid = fromUtf8Safe(p.subarray(1 + MSG_ID_BYTES + 8));
  if (contactId !== row.contactId || eid !== row.eid) throw storeCorrupt('an outbox record does not match its row');
  return p.slice(1, 1 + MSG_ID_BYTES);
}

// --- quarantine ---------------------------------------------------------------------------

/**
 * plaintext = JSON {"v":1,"eid":…,"reason":"KEY_CHANGED","senderSignPk":B64(32)?}
 * senderSignPk: the key the envelope CLAIMS (from its inner layer), authenticated or not.
 */
export function sealQuarantineInfo(eid: string, reason: string, senderSignPk: Uint8Array | undefined, key: Uint8Array): Uint8Array {
  const j: Record<string, unknown> = { v: RECORD_VERSION, eid, reason };
  if (senderSignPk) j.senderSignPk = toB64(senderSignPk);
  return seal(utf8(JSON.stringify(j)), key);
}

export function openQuarantineInfo(sealed: Uint8Array, key: Uint8Array, eid: string): { reason: string; senderSignPk?: Uint8Array } {
  const o = parseJson(open(sealed, key, 'quarantine'), 'quarantine');
  return shaped('quarantine', () => {
    const r = obj(o, 'quarantine');
    literal(r, 'v', 'quarantine', [RECORD_VERSION] as const);
    if (str(r, 'eid', 'quarantine', { max: 200 }) !== eid) throw new Error('eid mismatch');
    const out: { reason: string; senderSignPk?: Uint8Array } = { reason: str(r, 'reason', 'quarantine', { max: 64, min: 1 }) };
    if (r.senderSignPk !== undefined) {
      if (typeof r.senderSignPk !== 'string') throw new Error('senderSignPk');
      const pk = fromB64(r.senderSignPk, 'senderSignPk');
      if (pk.length !== 32) throw new Error('senderSignPk length');
      out.senderSignPk = pk;
    }
    return out;
  });
}

/**
 * The quarantine's `bucket` column: a keyed tag of the sender key that AUTHENTICATED an entry
 * (NULL for unauthenticated mail), so entries can be bounded per sender without storing the key:
 *   bucket = SHA-512(D("hush/v1/store-bucket") || historyKey || signPk)[0, 16)
 */
export function bucketTag(signPk: Uint8Array, key: Uint8Array): Uint8Array {
  return keyedTag16(BUCKET_DOMAIN, key, signPk);
}

// --- kv -----------------------------------------------------------------------------------

/** plaintext = JSON {"k": key, "v": value} */
export function sealKv(k: string, v: string, key: Uint8Array): Uint8Array {
  return seal(utf8(JSON.stringify({ k, v })), key);
}

export function openKv(sealed: Uint8Array, key: Uint8Array, k: string): string {
  const o = parseJson(open(sealed, key, 'kv'), 'kv');
  if (!isObj(o) || o.k !== k || typeof o.v !== 'string') throw storeCorrupt('a kv record does not match its row');
  return o.v;
}
