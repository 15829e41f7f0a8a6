/**
 * The keyring file (`keyring.json` in the hush home), version 1. JSON:
 *
 *   {"type":"hush-keyring","v":1,"name":"alice","created":MS,
 *    "signPk":B64(32),"boxPk":B64(32),
 *    "kdf":{"alg":"argon2id","m":KIB,"t":N,"p":N,"salt":B64(16)},
 *    "wrap":{"nonce":B64(24),"ct":B64(80)},
 *    "secrets":{"nonce":B64(24),"ct":B64(113)}}
 *
 * Crypto in src/crypto/keyring.ts; byte-exact description in docs/PROTOCOL.md §6.
 */
import { DataError } from '../errors.js';
import { concatBytes, lp, toB64, u32be, u64be, utf8 } from './encoding.js';
import { NAME_MAX, NAME_RE } from './names.js';
import { b64, int, literal, obj, parseJson, str } from './validate.js';

export const KEYRING_TYPE = 'hush-keyring';
export const KEYRING_VERSION = 1;
export const KEYRING_SECRETS_VERSION = 1;

export interface KdfParams {
  alg: 'argon2id';
  /** memory in KiB */
  m: number;
  t: number;
  p: number;
  salt: Uint8Array; // 16
}

/** Defaults: see docs/PERFORMANCE.md for the time they take here. */
export const KDF_DEFAULT = { m: 64 * 1024, t: 3, p: 1 } as const;
/** Below this an unwrap is refused (the file must have been tampered with). */
export const KDF_FLOOR = { m: 8 * 1024, t: 1, p: 1 } as const;
/** Above this an unwrap is refused before any work (a file cannot make us spin or swap). */
export const KDF_CEILING = { m: 1024 * 1024, t: 16, p: 16 } as const;

export interface KeyringHeader {
  type: typeof KEYRING_TYPE;
  v: 1;
  name: string;
  created: number;
  signPk: Uint8Array;
  boxPk: Uint8Array;
  kdf: KdfParams;
}

export interface KeyringFile extends KeyringHeader {
  wrap: { nonce: Uint8Array; ct: Uint8Array };
  secrets: { nonce: Uint8Array; ct: Uint8Array };
}

/**
 * Canonical header bytes, hashed into the wrap:
 * lp("hush-keyring") || u8 v || lp(name) || u64be(created) || signPk || boxPk ||
 * lp("argon2id") || u32be(m) || u32be(t) || u32be(p) || salt[16]
 */
export function keyringHeaderBytes(h: KeyringHeader): Uint8Array {
  return concatBytes(
    lp(utf8(h.type)),
    Uint8Array.of(h.v),
    lp(utf8(h.name)),
    u64be(h.created),
    h.signPk,
    h.boxPk,
    lp(utf8(h.kdf.alg)),
    u32be(h.kdf.m),
    u32be(h.kdf.t),
    u32be(h.kdf.p),
    h.kdf.salt,
  );
}

export function keyringToJson(k: KeyringFile): string {
  return (
    JSON.stringify(
      {
        type: k.type,
        v: k.v,
        name: k.name,
        created: k.created,
        signPk: toB64(k.signPk),
        boxPk: toB64(k.boxPk),
        kdf: { alg: k.kdf.alg, m: k.kdf.m, t: k.kdf.t, p: k.kdf.p, salt: toB64(k.kdf.salt) },
        wrap: { nonce: toB64(k.wrap.nonce), ct: toB64(k.wrap.ct) },
        secrets: { nonce: toB64(k.secrets.nonce), ct: toB64(k.secrets.ct) },
      },
      null,
      2,
    ) + '\n'
  );
}

/** Parses and validates keyring.json text. Unknown version: DataError UNSUPPORTED_VERSION. */
export function parseKeyring(text: string): KeyringFile {
  const root = obj(parseJson(text, 64 * 1024), 'keyring');
  if (root.type !== KEYRING_TYPE) throw new DataError('NOT_A_KEYRING', 'the file is not a hush keyring');
  // Only a whole number names a version a newer hush may have written; anything else (a key
  // or a digit corrupted on disk) is a malformed file, not a reason to upgrade.
  if (Number.isSafeInteger(root.v) && root.v !== KEYRING_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `keyring version ${String(root.v)} is not supported`, {
      hint: 'this keyring was written by a newer hush; upgrade hush',
    });
  }
  literal(root, 'v', 'keyring', [KEYRING_VERSION] as const);
  const kdf = obj(root.kdf, 'keyring.kdf');
  const wrap = obj(root.wrap, 'keyring.wrap');
  const secrets = obj(root.secrets, 'keyring.secrets');
  // Ranges here are only "is it a number"; floor and ceiling are enforced by checkKdfParams.
  return {
    type: KEYRING_TYPE,
    v: KEYRING_VERSION,
    name: str(root, 'name', 'keyring', { max: NAME_MAX, min: 1, re: NAME_RE }),
    created: int(root, 'created', 'keyring', 0, 2 ** 48),
    signPk: b64(root, 'signPk', 'keyring', { len: 32 }),
    boxPk: b64(root, 'boxPk', 'keyring', { len: 32 }),
    kdf: {
      alg: literal(kdf, 'alg', 'keyring.kdf', ['argon2id'] as const),
      m: int(kdf, 'm', 'keyring.kdf', 0, 2 ** 32 - 1),
      t: int(kdf, 't', 'keyring.kdf', 0, 2 ** 32 - 1),
      p: int(kdf, 'p', 'keyring.kdf', 0, 2 ** 32 - 1),
      salt: b64(kdf, 'salt', 'keyring.kdf', { len: 16 }),
    },
    wrap: { nonce: b64(wrap, 'nonce', 'keyring.wrap', { len: 24 }), ct: b64(wrap, 'ct', 'keyring.wrap', { len: 80 }) },
    secrets: { nonce: b64(secrets, 'nonce', 'keyring.secrets', { len: 24 }), ct: b64(secrets, 'ct', 'keyring.secrets', { len: 113 }) },
  };
}
