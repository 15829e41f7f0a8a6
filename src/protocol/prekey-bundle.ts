/**
 * The v2 prekey bundle: what an initiator fetches to start a PQXDH session with someone
 * (docs/PROTOCOL.md §9.2). Binary, one layout, version byte first:
 *
 *   bundle = 0x01 || signPk[32] || boxPk[32]
 *            || spkId u32be || spkExpires u64be || spkPk[32] || spkSig[64]
 *            || kemKind u8 || kemId u32be || kemPk[1184] || kemSig[64]
 *            || opkFlag u8 || (opkFlag = 1: opkId u32be || opkPk[32])
 *
 *   spkSig = Ed25519_signPk(D(signedPrekey) || 0x01 || signPk || boxPk || u32be spkId
 *                           || u64be spkExpires || spkPk)
 *   kemSig = Ed25519_signPk(D(kemPrekey) || 0x01 || signPk || boxPk || u8 kemKind
 *                           || u32be kemId || kemPk)
 *
 * The one-time X25519 prekey is unsigned (as in Signal's PQXDH). Layout, constants and the
 * signed bytes only; signing and verifying are in src/crypto/prekeys.ts.
 */
import { DataError } from '../errors.js';
import { concatBytes, readU32be, readU64be, u32be, u64be } from './encoding.js';
import { DOMAIN, domainBytes } from './domains.js';

export const PREKEY_BUNDLE_VERSION = 1;
export const KEM_PK_BYTES = 1184; // ML-KEM-768 encapsulation key (FIPS 203)
export const KEM_CT_BYTES = 1088; // ML-KEM-768 ciphertext
export const KEM_SEED_BYTES = 64; // ML-KEM-768 key generation seed d || z (FIPS 203 §7.1)

/** One-time KEM prekeys are deleted after one use; the last-resort one is reused when they run out. */
export const KEM_KIND = { 'one-time': 1, 'last-resort': 2 } as const;
export type KemKind = keyof typeof KEM_KIND;
export const KEM_KIND_BY_CODE: Record<number, KemKind> = { 1: 'one-time', 2: 'last-resort' };

export interface PrekeyBundle {
  signPk: Uint8Array;
  boxPk: Uint8Array;
  spk: { id: number; expires: number; pk: Uint8Array; sig: Uint8Array };
  kem: { kind: KemKind; id: number; pk: Uint8Array; sig: Uint8Array };
  opk?: { id: number; pk: Uint8Array };
}

const FIXED_BYTES = 1 + 32 + 32 + (4 + 8 + 32 + 64) + (1 + 4 + KEM_PK_BYTES + 64) + 1; // 1427
export const PREKEY_BUNDLE_BYTES_NO_OPK = FIXED_BYTES;
export const PREKEY_BUNDLE_BYTES_WITH_OPK = FIXED_BYTES + 4 + 32; // 1463

/** The bytes the signed X25519 prekey signature covers. */
export function spkSignedBytes(signPk: Uint8Array, boxPk: Uint8Array, id: number, expires: number, pk: Uint8Array): Uint8Array {
  return concatBytes(domainBytes(DOMAIN.signedPrekey), Uint8Array.of(PREKEY_BUNDLE_VERSION), signPk, boxPk, u32be(id), u64be(expires), pk);
}

/** The bytes the ML-KEM prekey signature covers. */
export function kemSignedBytes(signPk: Uint8Array, boxPk: Uint8Array, kind: KemKind, id: number, pk: Uint8Array): Uint8Array {
  return concatBytes(domainBytes(DOMAIN.kemPrekey), Uint8Array.of(PREKEY_BUNDLE_VERSION), signPk, boxPk, Uint8Array.of(KEM_KIND[kind]), u32be(id), pk);
}

function need(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_PREKEY_BUNDLE', `${what} must be ${n} bytes`);
}

export function encodePrekeyBundle(b: PrekeyBundle): Uint8Array {
  need(b.signPk, 32, 'signPk');
  need(b.boxPk, 32, 'boxPk');
  need(b.spk.pk, 32, 'signed prekey');
  need(b.spk.sig, 64, 'signed prekey signature');
  need(b.kem.pk, KEM_PK_BYTES, 'KEM prekey');
  need(b.kem.sig, 64, 'KEM prekey signature');
  if (!Object.hasOwn(KEM_KIND, b.kem.kind)) throw new DataError('BAD_PREKEY_BUNDLE', 'unknown KEM prekey kind');
  const parts = [
    Uint8Array.of(PREKEY_BUNDLE_VERSION),
    b.signPk,
    b.boxPk,
    u32be(b.spk.id),
    u64be(b.spk.expires),
    b.spk.pk,
    b.spk.sig,
    Uint8Array.of(KEM_KIND[b.kem.kind]),
    u32be(b.kem.id),
    b.kem.pk,
    b.kem.sig,
  ];
  if (b.opk) {
    need(b.opk.pk, 32, 'one-time prekey');
    parts.push(Uint8Array.of(1), u32be(b.opk.id), b.opk.pk);
  } else {
    parts.push(Uint8Array.of(0));
  }
  return concatBytes(...parts);
}

const bad = (why: string): DataError => new DataError('BAD_PREKEY_BUNDLE', `prekey bundle ${why}`, { hint: 'the relay may be misbehaving; try again later' });

/** Parses the layout (not the signatures). Version other than 1: UNSUPPORTED_VERSION. */
export function parsePrekeyBundle(bytes: Uint8Array): PrekeyBundle {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) throw bad('is empty');
  if (bytes[0] !== PREKEY_BUNDLE_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `prekey bundle version ${bytes[0]} is not supported`, { hint: 'the other side may use a newer hush; upgrade hush' });
  }
  if (bytes.length !== PREKEY_BUNDLE_BYTES_NO_OPK && bytes.length !== PREKEY_BUNDLE_BYTES_WITH_OPK) throw bad(`has ${bytes.length} bytes`);
  let o = 1;
  const take = (n: number): Uint8Array => bytes.slice(o, (o += n));
  const signPk = take(32);
  const boxPk = take(32);
  const spkId = readU32be(bytes, o);
  o += 4;
  if (readU32be(bytes, o) >= 2 ** 21) throw bad('has an out-of-range expiry');
  const spkExpires = readU64be(bytes, o);
  o += 8;
  const spk = { id: spkId, expires: spkExpires, pk: take(32), sig: take(64) };
  const kind = KEM_KIND_BY_CODE[bytes[o++]!];
  if (!kind) throw bad('has an unknown KEM prekey kind');
  const kemId = readU32be(bytes, o);
  o += 4;
  const kem = { kind, id: kemId, pk: take(KEM_PK_BYTES), sig: take(64) };
  const flag = bytes[o++];
  if (flag === 0 && bytes.length === PREKEY_BUNDLE_BYTES_NO_OPK) return { signPk, boxPk, spk, kem };
  if (flag === 1 && bytes.length === PREKEY_BUNDLE_BYTES_WITH_OPK) {
    const id = readU32be(bytes, o);
    o += 4;
    return { signPk, boxPk, spk, kem, opk: { id, pk: take(32) } };
  }
  throw bad('has a bad one-time prekey flag');
}
