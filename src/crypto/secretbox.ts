/**
 * crypto_secretbox (XSalsa20-Poly1305, tweetnacl), as hush calls it: whole, written into a
 * caller's array behind a header (secretboxInto), or over a padded input the caller wrote in
 * place (secretboxPadded + secretboxPaddedInto), and its open. Re-exported by src/crypto/nacl.ts,
 * where every other primitive is.
 */
import { DataError } from '../errors.js';
import { KEY_BYTES, lowlevel, MAC_BYTES, nacl, needLength, NONCE_BYTES } from './nacl-core.js';

/** crypto_box_afternm == crypto_secretbox with the precomputed key. */
export function secretbox(msg: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  needLength(nonce, NONCE_BYTES, 'secretbox nonce');
  needLength(key, KEY_BYTES, 'secretbox key');
  return nacl.secretbox(msg, nonce, key);
}

/** crypto_secretbox's m starts with 32 zero bytes, its c with 16. */
export const SECRETBOX_ZERO_BYTES = 32;
const saved16 = new Uint8Array(16);

/** Messages up to this many bytes are padded in one array kept here (secretboxPadded). */
const PADDED_SCRATCH_MESSAGE_BYTES = 8192;
const paddedScratch = new Uint8Array(SECRETBOX_ZERO_BYTES + PADDED_SCRATCH_MESSAGE_BYTES);

/**
 * crypto_secretbox's padded input for a `msgLength`-byte message that the caller writes in
 * place at SECRETBOX_ZERO_BYTES (its first 32 bytes are zero, and must stay so): up to 8 KiB
 * of message, one array kept here and used by one seal at a time (no array per seal; nothing
 * else runs between the caller's write and secretboxPaddedInto, all of it synchronous);
 * larger, a new one. The caller zeroes the message bytes once boxed (or on a throw), so the
 * kept array holds no message between seals.
 */
export function secretboxPadded(msgLength: number): Uint8Array {
  if (!Number.isInteger(msgLength) || msgLength < 0) throw new DataError('BAD_LENGTH', 'secretbox message length out of range');
  return msgLength <= PADDED_SCRATCH_MESSAGE_BYTES ? paddedScratch : new Uint8Array(SECRETBOX_ZERO_BYTES + msgLength);
}

/**
 * secretbox of the message at m[32 .. 32 + msgLength) (m from secretboxPadded, or any array
 * whose first 32 bytes are zero) written into `out` at `offset` (msgLength + 16 bytes: the
 * same bytes as secretbox returns), for a caller that lays the box out behind a header:
 * tweetnacl's crypto_secretbox reads the padded message where it is and writes straight into
 * `out`, so neither the padded message nor the box is made and then copied. Nothing else of
 * `out` changes (the 16 bytes before `offset`, which crypto_secretbox zeroes, are put back).
 * m is not cleared here.
 */
export function secretboxPaddedInto(out: Uint8Array, offset: number, m: Uint8Array, msgLength: number, nonce: Uint8Array, key: Uint8Array): void {
  needLength(nonce, NONCE_BYTES, 'secretbox nonce');
  needLength(key, KEY_BYTES, 'secretbox key');
  if (!Number.isInteger(msgLength) || msgLength < 0 || m.length < SECRETBOX_ZERO_BYTES + msgLength) throw new DataError('BAD_LENGTH', 'secretbox message out of range');
  if (!Number.isInteger(offset) || offset < 16 || out.length - offset < msgLength + MAC_BYTES) throw new DataError('BAD_LENGTH', 'secretbox output has no room');
  for (let i = 0; i < 16; i++) saved16[i] = out[offset - 16 + i]!; // no view made
  lowlevel.crypto_secretbox(out.subarray(offset - 16, offset + MAC_BYTES + msgLength), m, SECRETBOX_ZERO_BYTES + msgLength, nonce, key);
  out.set(saved16, offset - 16);
  saved16.fill(0);
}

/** secretbox(msg, nonce, key) written into `out` at `offset` (see secretboxPaddedInto). */
export function secretboxInto(out: Uint8Array, offset: number, msg: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
  const m = secretboxPadded(msg.length);
  m.set(msg, SECRETBOX_ZERO_BYTES);
  try {
    secretboxPaddedInto(out, offset, m, msg.length, nonce, key);
  } finally {
    m.fill(0, SECRETBOX_ZERO_BYTES, SECRETBOX_ZERO_BYTES + msg.length);
  }
}

/** Returns null when the box does not authenticate. */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null {
  needLength(nonce, NONCE_BYTES, 'secretbox nonce');
  needLength(key, KEY_BYTES, 'secretbox key');
  return nacl.secretbox.open(box, nonce, key);
}
