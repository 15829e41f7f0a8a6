/**
 * The symmetric primitives of protocol v2 (docs/PROTOCOL.md §9.4), all from node:crypto:
 * HKDF-SHA256 (RFC 5869), HMAC-SHA256, and ChaCha20-Poly1305 (RFC 8439, "IETF": 96-bit nonce,
 * libsodium crypto_aead_chacha20poly1305_ietf_*) with associated data.
 *
 * ChaCha20-Poly1305 rather than XSalsa20-Poly1305 secretbox: it authenticates associated data
 * natively, so the ratchet header and both identities are bound by the AEAD itself rather than
 * by a construction of our own around secretbox; every message key is used once, so a nonce
 * derived with the key is safe.
 */
import * as nodeCrypto from 'node:crypto';
import { DataError } from '../errors.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

const HASH = 32;

/** HMAC-SHA256 over the concatenation of `parts` (one createHmac, one update per part). */
function hmacParts(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The one-byte HKDF block counters 1..255, made once (not a Uint8Array.of per block). */
const COUNTER = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));

/**
 * HKDF-SHA256(salt, ikm, info) -> `length` bytes (RFC 5869; an empty salt is HashLen zeros),
 * extract and expand written out over HMAC: the same bytes as node:crypto hkdfSync, at
 * 0.6-0.7x of its time for the ratchet's short outputs (hkdfSync builds KeyObjects per call).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH) throw new DataError('BAD_KEY', 'HKDF length out of range');
  const blocks = hkdfSha256Blocks(ikm, salt, info, Math.ceil(length / HASH));
  const out = new Uint8Array(length);
  blocks.forEach((t, i) => {
    out.set(t.subarray(0, Math.min(HASH, length - i * HASH)), i * HASH);
    t.fill(0);
  });
  return out;
}

/**
 * The HKDF-SHA256 output as its 32-byte blocks T(1) .. T(n), not concatenated: for a caller
 * that takes whole blocks (or a block's head) as keys. One HMAC for the extract, one per
 * block; T(0) is empty, so T(1) hashes only info || 0x01. The caller wipes the blocks.
 */
export function hkdfSha256Blocks(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, n: number): Uint8Array[] {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new DataError('BAD_KEY', 'HKDF length out of range');
  const prk = hmacParts(salt, [ikm]);
  const out: Uint8Array[] = [];
  for (let i = 1; i <= n; i++) out.push(i === 1 ? hmacParts(prk, [info, COUNTER[1]!]) : hmacParts(prk, [out[i - 2]!, info, COUNTER[i]!]));
  prk.fill(0);
  return out;
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return nodeCrypto.createHmac('sha256', key).update(data).digest();
}

/**
 * hkdfSha256Blocks(ikm, salt, info, 2) for the ratchet's message keys, one per message each
 * way: the same three HMACs, written out with no array of parts or of blocks (garbage per
 * message the raw primitives do not make). The caller wipes both blocks.
 */
export function hkdfSha256TwoBlocks(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = nodeCrypto.createHmac('sha256', salt).update(ikm).digest();
  const t1 = nodeCrypto.createHmac('sha256', prk).update(info).update(COUNTER[1]!).digest();
  const t2 = nodeCrypto.createHmac('sha256', prk).update(t1).update(info).update(COUNTER[2]!).digest();
  prk.fill(0);
  return [t1, t2];
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto.createHash('sha256').update(data).digest());
}

function need(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_KEY', `${what} must be ${n} bytes`);
}

/** ChaCha20-Poly1305 (IETF): ciphertext || tag[16]. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_BYTES);
  aeadSealInto(out, 0, key, nonce, plaintext, ad);
  return out;
}

/**
 * aeadSeal writing ciphertext || tag at `offset` of `out` (which must have room), so that a
 * caller building prefix || ciphertext copies the ciphertext once.
 */
export function aeadSealInto(out: Uint8Array, offset: number, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): void {
  need(key, AEAD_KEY_BYTES, 'AEAD key');
  need(nonce, AEAD_NONCE_BYTES, 'AEAD nonce');
  if (!Number.isInteger(offset) || offset < 0 || out.length - offset < plaintext.length + AEAD_TAG_BYTES) throw new DataError('BAD_LENGTH', 'AEAD output has no room');
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  out.set(body, offset);
  out.set(c.getAuthTag(), offset + body.length);
}

/**
 * Returns null when the ciphertext does not authenticate. The plaintext is a plain
 * Uint8Array view of the decipher's own output (not a node Buffer: its slice() copies).
 */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  need(key, AEAD_KEY_BYTES, 'AEAD key');
  need(nonce, AEAD_NONCE_BYTES, 'AEAD nonce');
  if (sealed.length < AEAD_TAG_BYTES) return null;
  const ctLen = sealed.length - AEAD_TAG_BYTES;
  let body: Buffer;
  try {
    const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(ad, { plaintextLength: ctLen });
    d.setAuthTag(sealed.subarray(ctLen));
    body = d.update(sealed.subarray(0, ctLen));
    d.final(); // throws when the tag does not match
  } catch {
    return null;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}
