/**
 * The chunk format of an encrypted file (docs/PROTOCOL.md §11.1): the layout, the constants and
 * the nonce and associated-data rules. The AEAD itself (ChaCha20-Poly1305) is in
 * src/crypto/file-chunks.ts; this module holds no key.
 *
 *   fileKey   = 32 random bytes, one per file (sent inside the sealed file message, §11.2)
 *   blobId    = 16 random bytes chosen by the relay (§7.8)
 *   chunk i   = plaintext bytes [i*chunkSize, min((i+1)*chunkSize, size)), i = 0 .. n-1,
 *               n = max(1, ceil(size / chunkSize)); the last chunk (i = n-1) is "final"
 *   nonce_i   = u64be(i) || u32be(final ? 1 : 0)                          (12 bytes)
 *   ad_i      = "hush/v1/file-chunk" 0x00 || blobId[16] || u64be(i) || u8(final ? 1 : 0)
 *   sealed_i  = ChaCha20-Poly1305(fileKey, nonce_i, ad_i, chunk i)       (|chunk i| + 16 bytes)
 *
 * The index and the final flag sit in both the nonce and the associated data, the blob id in the
 * associated data: a chunk moved to another index, a non-final chunk presented as the last one
 * (truncation), a chunk after the final one (extension) or a chunk of another file (splicing)
 * fails to authenticate. An empty file is one final chunk of 0 bytes (16 sealed bytes).
 */
import { DOMAIN, domainBytes } from './domains.js';
import { u32be, u64be } from './encoding.js';

export const FILE_KEY_BYTES = 32;
export const BLOB_ID_BYTES = 16;
export const CHUNK_NONCE_BYTES = 12;
export const CHUNK_TAG_BYTES = 16;
/**
 * Plaintext bytes per chunk of a version-1 file message (§11.2): 64 KiB. A sealed chunk (65,552
 * bytes) is 87,404 characters of base64, which fits the relay's default 128 KiB frame (§7.7)
 * with room for the frame around it. hush sends it to relays that take no larger chunk.
 */
export const CHUNK_SIZE = 64 * 1024;
/**
 * Plaintext bytes per chunk of a version-2 file message, sent to a relay whose hello's
 * `limits.blobChunk` takes it (binary frames only): 1 MiB. 16 times fewer chunks, so 16 times
 * fewer frames, requests, answers, AEAD calls and relay writes per file; a resumed transfer
 * repeats at most one chunk (1 MiB).
 */
export const LARGE_CHUNK_SIZE = 1024 * 1024;
/** Smallest and largest chunk size a file message may declare (receivers refuse others): version 1 up to 64 KiB, version 2 up to 1 MiB. */
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE_V1 = CHUNK_SIZE;
export const MAX_CHUNK_SIZE = LARGE_CHUNK_SIZE;
/** Largest sealed chunk of a version-1 file (what a relay without `limits.blobChunk` takes). */
export const MAX_SEALED_CHUNK_V1 = MAX_CHUNK_SIZE_V1 + CHUNK_TAG_BYTES;
/** Largest sealed chunk on the wire (a version-2 file's 1 MiB chunk and its tag). */
export const MAX_SEALED_CHUNK = MAX_CHUNK_SIZE + CHUNK_TAG_BYTES;
/** Largest file size a descriptor may carry (2^48 - 1: chunk indexes stay exact in a double). */
export const MAX_FILE_SIZE = 2 ** 48 - 1;

/** Number of chunks of a file of `size` bytes. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Plaintext length of chunk `i`. */
export function chunkPlainLength(size: number, chunkSize: number, i: number): number {
  const n = chunkCount(size, chunkSize);
  if (i < 0 || i >= n) throw new RangeError('chunk index out of range');
  return i < n - 1 ? chunkSize : size - (n - 1) * chunkSize;
}

/** Total sealed bytes of a file (what the relay stores). */
export function sealedSize(size: number, chunkSize: number): number {
  return size + chunkCount(size, chunkSize) * CHUNK_TAG_BYTES;
}

export function chunkNonce(i: number, final: boolean): Uint8Array {
  const n = new Uint8Array(CHUNK_NONCE_BYTES);
  n.set(u64be(i), 0);
  n.set(u32be(final ? 1 : 0), 8);
  return n;
}

const AD_PREFIX = domainBytes(DOMAIN.fileChunk);

export function chunkAd(blobId: Uint8Array, i: number, final: boolean): Uint8Array {
  if (blobId.length !== BLOB_ID_BYTES) throw new RangeError('blob id must be 16 bytes');
  const ad = new Uint8Array(AD_PREFIX.length + BLOB_ID_BYTES + 8 + 1);
  ad.set(AD_PREFIX, 0);
  ad.set(blobId, AD_PREFIX.length);
  ad.set(u64be(i), AD_PREFIX.length + BLOB_ID_BYTES);
  ad[ad.length - 1] = final ? 1 : 0;
  return ad;
}
