/**
 * The v2 prekey upload: what a device sends its relay in a `prekeys` frame to publish (part
 * of) its prekeys (docs/PROTOCOL.md §9.2 "Upload", §7.2). Binary, one layout, version byte first:
 *
 *   upload = u8 0x01 || u8 flags
 *            || (flags bit 0: u32be spkId || u64be spkExpires || spkPk[32] || spkSig[64])
 *            || (flags bit 1: u32be lrId || lrPk[1184] || lrSig[64])        last-resort ML-KEM
 *            || u16be nOpk || nOpk x (u32be opkId || opkPk[32])              one-time X25519
 *            || u16be nKem || nKem x (u32be kemId || kemPk[1184] || kemSig[64])  one-time ML-KEM
 *
 * The signatures are those of the prekey bundle (spkSignedBytes, kemSignedBytes with kind
 * last-resort for lr and one-time for the batch), over the uploader's registered signPk and
 * boxPk, which the upload does not repeat: the relay takes them from its directory. An upload
 * with nothing in it (flags 0, no keys) is a status query. This module is layout only; the relay
 * verifies the signatures (relay/prekeys.ts).
 */
import { DataError } from '../errors.js';
import { concatBytes, readU32be, readU64be, u32be, u64be } from './encoding.js';
import { KEM_PK_BYTES } from './prekey-bundle.js';
import { b64, int, type Obj } from './validate.js';

export const PREKEY_UPLOAD_VERSION = 1;
/** Most one-time X25519 prekeys in one upload. */
export const MAX_UPLOAD_OPKS = 200;
/** Most one-time ML-KEM-768 prekeys in one upload (50 x 1252 bytes keeps the frame under 96 KiB). */
export const MAX_UPLOAD_KEMS = 50;

const FLAG_SPK = 1;
const FLAG_LAST_RESORT = 2;
const SPK_BYTES = 4 + 8 + 32 + 64; // 108
const KEM_ENTRY_BYTES = 4 + KEM_PK_BYTES + 64; // 1252
const OPK_ENTRY_BYTES = 4 + 32; // 36
/** The largest upload: both signed keys and full batches (71,166 bytes; 94,888 in base64). */
export const MAX_PREKEY_UPLOAD_BYTES = 2 + SPK_BYTES + KEM_ENTRY_BYTES + 2 + MAX_UPLOAD_OPKS * OPK_ENTRY_BYTES + 2 + MAX_UPLOAD_KEMS * KEM_ENTRY_BYTES;

export interface UploadSignedPrekey {
  id: number;
  expires: number;
  pk: Uint8Array;
  sig: Uint8Array;
}
export interface UploadKemPrekey {
  id: number;
  pk: Uint8Array;
  sig: Uint8Array;
}
export interface UploadOneTimePrekey {
  id: number;
  pk: Uint8Array;
}

/**
 * What one upload publishes. Every part is optional: `spk` and `lastResort` replace the stored
 * ones, `opks` and `kems` (one-time) are added to the stored pools. The prekey types of
 * src/crypto/prekeys.ts fit these shapes (their secret fields are never read).
 */
export interface PrekeyUpload {
  spk?: UploadSignedPrekey;
  lastResort?: UploadKemPrekey;
  opks?: UploadOneTimePrekey[];
  kems?: UploadKemPrekey[];
}

/**
 * What the relay holds for an identity (the answer to every `prekeys` frame): how many one-time
 * prekeys remain, and which signed prekey and last-resort KEM prekey it serves (absent: none).
 */
export interface PrekeyStatus {
  opks: number;
  kems: number;
  spk?: { id: number; expires: number };
  lastResort?: { id: number };
}

const bad = (why: string): DataError => new DataError('BAD_PREKEY_UPLOAD', `prekey upload ${why}`, { hint: 'this is a bug in the uploading client' });

function need(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw bad(`${what} must be ${n} bytes`);
}

function checkIds(list: readonly { id: number }[], what: string): void {
  const seen = new Set<number>();
  for (const k of list) {
    if (!Number.isSafeInteger(k.id) || k.id < 0 || k.id > 0xffffffff) throw bad(`has a ${what} id that is not a u32`);
    if (seen.has(k.id)) throw bad(`has the ${what} id ${k.id} twice`);
    seen.add(k.id);
  }
}

/** The upload's bytes. Refuses (BAD_PREKEY_UPLOAD) what parsePrekeyUpload would refuse. */
export function encodePrekeyUpload(u: PrekeyUpload): Uint8Array {
  const opks = u.opks ?? [];
  const kems = u.kems ?? [];
  if (opks.length > MAX_UPLOAD_OPKS) throw bad(`has more than ${MAX_UPLOAD_OPKS} one-time prekeys`);
  if (kems.length > MAX_UPLOAD_KEMS) throw bad(`has more than ${MAX_UPLOAD_KEMS} one-time KEM prekeys`);
  checkIds(opks, 'one-time prekey');
  checkIds(kems, 'one-time KEM prekey');
  const parts: Uint8Array[] = [Uint8Array.of(PREKEY_UPLOAD_VERSION, (u.spk ? FLAG_SPK : 0) | (u.lastResort ? FLAG_LAST_RESORT : 0))];
  if (u.spk) {
    checkIds([u.spk], 'signed prekey');
    need(u.spk.pk, 32, 'the signed prekey');
    need(u.spk.sig, 64, 'the signed prekey signature');
    if (u.spk.expires >= 2 ** 53) throw bad('has an out-of-range expiry');
    parts.push(u32be(u.spk.id), u64be(u.spk.expires), u.spk.pk, u.spk.sig);
  }
  if (u.lastResort) {
    checkIds([u.lastResort], 'last-resort KEM prekey');
    need(u.lastResort.pk, KEM_PK_BYTES, 'the last-resort KEM prekey');
    need(u.lastResort.sig, 64, 'the last-resort KEM prekey signature');
    parts.push(u32be(u.lastResort.id), u.lastResort.pk, u.lastResort.sig);
  }
  parts.push(Uint8Array.of(opks.length >> 8, opks.length & 0xff));
  for (const k of opks) {
    need(k.pk, 32, 'a one-time prekey');
    parts.push(u32be(k.id), k.pk);
  }
  parts.push(Uint8Array.of(kems.length >> 8, kems.length & 0xff));
  for (const k of kems) {
    need(k.pk, KEM_PK_BYTES, 'a one-time KEM prekey');
    need(k.sig, 64, 'a one-time KEM prekey signature');
    parts.push(u32be(k.id), k.pk, k.sig);
  }
  return concatBytes(...parts);
}

/**
 * Parses the layout (not the signatures). Version other than 1: UNSUPPORTED_VERSION; anything
 * else wrong (unknown flag bits, a count over its maximum, a one-time id twice in one upload,
 * a length that does not match, trailing bytes): BAD_PREKEY_UPLOAD. An empty upload parses to
 * `{ opks: [], kems: [] }`.
 */
export function parsePrekeyUpload(bytes: Uint8Array): Required<Pick<PrekeyUpload, 'opks' | 'kems'>> & PrekeyUpload {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) throw bad('is empty');
  if (bytes[0] !== PREKEY_UPLOAD_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `prekey upload version ${bytes[0]} is not supported`, { hint: 'upgrade the relay, or the client' });
  }
  if (bytes.length > MAX_PREKEY_UPLOAD_BYTES) throw bad(`is longer than ${MAX_PREKEY_UPLOAD_BYTES} bytes`);
  let o = 1;
  const have = (n: number, what: string): void => {
    if (o + n > bytes.length) throw bad(`ends inside ${what}`);
  };
  const take = (n: number): Uint8Array => bytes.slice(o, (o += n));
  const u32 = (): number => {
    const v = readU32be(bytes, o);
    o += 4;
    return v;
  };
  have(1, 'the flags');
  const flags = bytes[o++]!;
  if ((flags & ~(FLAG_SPK | FLAG_LAST_RESORT)) !== 0) throw bad(`has unknown flag bits (0x${flags.toString(16).padStart(2, '0')})`);
  const out: Required<Pick<PrekeyUpload, 'opks' | 'kems'>> & PrekeyUpload = { opks: [], kems: [] };
  if (flags & FLAG_SPK) {
    have(SPK_BYTES, 'the signed prekey');
    const id = u32();
    if (readU32be(bytes, o) >= 2 ** 21) throw bad('has an out-of-range expiry');
    const expires = readU64be(bytes, o);
    o += 8;
    out.spk = { id, expires, pk: take(32), sig: take(64) };
  }
  if (flags & FLAG_LAST_RESORT) {
    have(KEM_ENTRY_BYTES, 'the last-resort KEM prekey');
    out.lastResort = { id: u32(), pk: take(KEM_PK_BYTES), sig: take(64) };
  }
  const count = (max: number, what: string): number => {
    have(2, `the ${what} count`);
    const n = (bytes[o]! << 8) | bytes[o + 1]!;
    o += 2;
    if (n > max) throw bad(`has ${n} ${what}s, more than ${max}`);
    return n;
  };
  const nOpk = count(MAX_UPLOAD_OPKS, 'one-time prekey');
  have(nOpk * OPK_ENTRY_BYTES, 'the one-time prekeys');
  for (let i = 0; i < nOpk; i++) out.opks.push({ id: u32(), pk: take(32) });
  const nKem = count(MAX_UPLOAD_KEMS, 'one-time KEM prekey');
  have(nKem * KEM_ENTRY_BYTES, 'the one-time KEM prekeys');
  for (let i = 0; i < nKem; i++) out.kems.push({ id: u32(), pk: take(KEM_PK_BYTES), sig: take(64) });
  if (o !== bytes.length) throw bad(`has ${bytes.length - o} bytes after its end`);
  checkIds(out.opks, 'one-time prekey');
  checkIds(out.kems, 'one-time KEM prekey');
  return out;
}

/** True when the upload publishes nothing (a status query). */
export function isEmptyUpload(u: PrekeyUpload): boolean {
  return !u.spk && !u.lastResort && (u.opks?.length ?? 0) === 0 && (u.kems?.length ?? 0) === 0;
}

// --- Frame fields (docs/PROTOCOL.md §7.2), parsed by src/protocol/frames.ts -------------

/** `prekeys {upload?}`: the upload's bytes (absent: a status query, like an empty upload). */
export function prekeysFrameFields(o: Obj, p: string): { upload?: Uint8Array } {
  return o.upload === undefined ? {} : { upload: b64(o, 'upload', p, { max: MAX_PREKEY_UPLOAD_BYTES, min: 1 }) };
}

/** `prekey-status {opks, kems, spkId?, spkExpires?, lastResortId?}` as a PrekeyStatus. */
export function prekeyStatusFields(o: Obj, p: string): PrekeyStatus {
  const s: PrekeyStatus = { opks: int(o, 'opks', p, 0, 0xffffffff), kems: int(o, 'kems', p, 0, 0xffffffff) };
  if (o.spkId !== undefined) s.spk = { id: int(o, 'spkId', p, 0, 0xffffffff), expires: int(o, 'spkExpires', p, 0, Number.MAX_SAFE_INTEGER) };
  if (o.lastResortId !== undefined) s.lastResort = { id: int(o, 'lastResortId', p, 0, 0xffffffff) };
  return s;
}

/** The wire fields of a PrekeyStatus (the inverse of prekeyStatusFields). */
export function prekeyStatusJson(s: PrekeyStatus): { opks: number; kems: number; spkId?: number; spkExpires?: number; lastResortId?: number } {
  return {
    opks: s.opks,
    kems: s.kems,
    ...(s.spk ? { spkId: s.spk.id, spkExpires: s.spk.expires } : {}),
    ...(s.lastResort ? { lastResortId: s.lastResort.id } : {}),
  };
}
