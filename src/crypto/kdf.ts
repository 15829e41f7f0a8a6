/**
 * The symmetric primitives of protocol v2 (docs/PROTOCOL.md §9.4): HKDF-SHA256 (RFC 5869) and
 * HMAC-SHA256 over the SHA-256 of src/crypto/sha256.ts, and, from node:crypto, SHA-256 and
 * ChaCha20-Poly1305 (RFC 8439, "IETF": 96-bit nonce, libsodium
 * crypto_aead_chacha20poly1305_ietf_*) with associated data.
 *
 * ChaCha20-Poly1305 rather than XSalsa20-Poly1305 secretbox: it authenticates associated data
 * natively, so the ratchet header and both identities are bound by the AEAD itself rather than
 * by a construction of our own around secretbox; every message key is used once, so a nonce
 * derived with the key is safe.
 */
import * as nodeCrypto from 'node:crypto';
import { DataError } from '../errors.js';
import { HmacSha256Key } from './sha256.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

const HASH = 32;

/** HMAC-SHA256 over the concatenation of `parts` (src/crypto/sha256.ts: ~4x faster than createHmac for these sizes). */
function hmacParts(key: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const k = new HmacSha256Key(key);
  const out = k.mac(...parts);
  k.wipe();
  return out;
}

/** HKDF's salt of 32 zero bytes (the message keys' and PQXDH's), keyed once: a public constant. */
const ZERO_SALT = new HmacSha256Key(new Uint8Array(HASH));

/** Without an early exit: a salt may be secret (KDF_RK's is the root key). */
function isZeroSalt(salt: Uint8Array): boolean {
  if (salt.length !== HASH) return false;
  let d = 0;
  for (const b of salt) d |= b;
  return d === 0;
}

/**
 * HKDF-SHA256(salt, ikm, info) -> `length` bytes (RFC 5869; an empty salt is HashLen zeros),
 * extract and expand written out over HMAC: the same bytes as node:crypto hkdfSync (checked in
 * test/unit/sha256.test.ts), the expand key set up once for all its blocks.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH) throw new DataError('BAD_KEY', 'HKDF length out of range');
  const prk = isZeroSalt(salt) ? ZERO_SALT.mac(ikm) : hmacParts(salt, [ikm]);
  const expand = new HmacSha256Key(prk);
  prk.fill(0);
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++) {
    const next = expand.mac(t, info, Uint8Array.of(i));
    t.fill(0);
    t = next;
    out.set(t.subarray(0, Math.min(HASH, length - off)), off);
    off += HASH;
  }
  t.fill(0);
  expand.wipe();
  return out;
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacParts(key, [data]);
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto.createHash('sha256').update(data).digest());
}

function need(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_KEY', `${what} must be ${n} bytes`);
}

/** ChaCha20-Poly1305 (IETF): ciphertext || tag[16]. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  need(key, AEAD_KEY_BYTES, 'AEAD key');
  need(nonce, AEAD_NONCE_BYTES, 'AEAD nonce');
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  const out = new Uint8Array(body.length + AEAD_TAG_BYTES);
  out.set(body);
  out.set(c.getAuthTag(), body.length);
  return out;
}

/** Returns null when the ciphertext does not authenticate. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  need(key, AEAD_KEY_BYTES, 'AEAD key');
  need(nonce, AEAD_NONCE_BYTES, 'AEAD nonce');
  if (sealed.length < AEAD_TAG_BYTES) return null;
  const ctLen = sealed.length - AEAD_TAG_BYTES;
  try {
    const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(ad, { plaintextLength: ctLen });
    d.setAuthTag(sealed.subarray(ctLen));
    const body = d.update(sealed.subarray(0, ctLen));
    d.final(); // throws when the tag does not match
    return new Uint8Array(body);
  } catch {
    return null;
  }
}
