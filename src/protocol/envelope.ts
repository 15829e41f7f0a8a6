/**
 * The sealed envelope: the bytes that travel through the relay (docs/PROTOCOL.md §5).
 *
 *   envelope = 0x01 || ephPk[32] || outerNonce[24] || outerBox
 *   outerBox = crypto_box(inner, outerNonce, recipientBoxPk, ephSk)
 *   inner    = 0x01 || senderSignPk[32] || innerNonce[24] || innerBox
 *   innerBox = crypto_box(payload, innerNonce, recipientBoxPk, senderBoxSk)
 *   payload  = 0x01 || kind[1] || senderSignPk[32] || recipientSignPk[32] || ephPk[32]
 *              || id[16] || u64be(time) || u32be(bodyLen) || body || 0x00 padding
 *
 * This module holds the layout, the constants and the padding rule; sealing and opening are
 * in src/crypto/seal.ts.
 */
import * as nodeCrypto from 'node:crypto';
import { DOMAIN, domainBytes } from './domains.js';

export const ENVELOPE_VERSION = 1;
export const INNER_VERSION = 1;
export const PAYLOAD_VERSION = 1;

/** Message kinds carried in the payload (`group`, 8: a group message, src/protocol/group-wire.ts). */
export const KIND = { msg: 1, receipt: 2, typing: 3, token: 4, group: 8 } as const;
export type Kind = keyof typeof KIND;
export const KIND_BY_CODE: Record<number, Kind> = { 1: 'msg', 2: 'receipt', 3: 'typing', 4: 'token', 8: 'group' };

export const MSG_ID_BYTES = 16;
/** Largest message body, in bytes of UTF-8. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Smallest padded payload: every short message looks the same size. */
export const MIN_PADDED = 256;

export const PAYLOAD_HEADER_BYTES = 1 + 1 + 32 + 32 + 32 + MSG_ID_BYTES + 8 + 4; // 126
export const OUTER_HEADER_BYTES = 1 + 32 + 24; // version, ephPk, nonce
export const INNER_HEADER_BYTES = 1 + 32 + 24; // version, senderSignPk, nonce
export const BOX_MAC_BYTES = 16;

/**
 * Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", PETS 2019, §4): rounds L up so that at most O(log log L) bits of
 * the length leak, with at most 12% overhead; never below MIN_PADDED. In integers:
 *
 *   L <= 256:  256
 *   else:      E = floor(log2 L), S = floor(log2 E) + 1, z = E - S,
 *              result = L rounded up to a multiple of 2^z
 *
 * Integer-exact (clz32, no floating-point log) for 1 <= L < 2^31; idempotent.
 */
export function paddedLength(len: number): number {
  if (!Number.isSafeInteger(len) || len < 0 || len >= 2 ** 31) throw new RangeError('paddedLength: length out of range');
  if (len <= MIN_PADDED) return MIN_PADDED;
  const e = 31 - Math.clz32(len);
  const s = 31 - Math.clz32(e) + 1;
  const unit = 2 ** (e - s);
  return Math.ceil(len / unit) * unit;
}

/** Bytes an envelope adds around its padded payload: two headers and two MACs (146). */
export const ENVELOPE_OVERHEAD = OUTER_HEADER_BYTES + BOX_MAC_BYTES + INNER_HEADER_BYTES + BOX_MAC_BYTES;

export const MAX_PAYLOAD_BYTES = paddedLength(PAYLOAD_HEADER_BYTES + MAX_BODY_BYTES);
export const MAX_ENVELOPE_BYTES = ENVELOPE_OVERHEAD + MAX_PAYLOAD_BYTES;
export const MIN_ENVELOPE_BYTES = ENVELOPE_OVERHEAD + MIN_PADDED;

/** True when an envelope of `n` bytes could hold a canonically padded payload. */
export function isValidEnvelopeLength(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < MIN_ENVELOPE_BYTES || n > MAX_ENVELOPE_BYTES) return false;
  const plen = n - ENVELOPE_OVERHEAD;
  return paddedLength(plen) === plen;
}

const ID_PREFIX = domainBytes(DOMAIN.envelopeId);
const ID_SCRATCH_MAX = ID_PREFIX.length + MAX_ENVELOPE_BYTES;
let idScratch = Buffer.alloc(0);

/**
 * The relay id of an envelope: hex of the first 16 bytes of
 * SHA-512("hush/v1/envelope-id" 0x00 || envelope). Content-derived, so a retried send is
 * recognised and nobody can claim an id for other bytes.
 */
export function envelopeId(envelope: Uint8Array): string {
  // The one-shot crypto.hash (Node >= 20.12) over prefix || envelope in a reused buffer costs
  // ~1.5 us against ~5 us for a Hash object: the relay computes one per send.
  const n = ID_PREFIX.length + envelope.length;
  if (typeof nodeCrypto.hash === 'function' && n <= ID_SCRATCH_MAX) {
    if (idScratch.length < n) {
      idScratch = Buffer.alloc(Math.max(n, 4096));
      idScratch.set(ID_PREFIX);
    }
    idScratch.set(envelope, ID_PREFIX.length);
    return nodeCrypto.hash('sha512', idScratch.subarray(0, n), 'hex').slice(0, 32);
  }
  return nodeCrypto.createHash('sha512').update(domainBytes(DOMAIN.envelopeId)).update(envelope).digest().subarray(0, 16).toString('hex');
}
