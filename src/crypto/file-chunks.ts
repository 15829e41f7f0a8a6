/**
 * Sealing and opening the chunks of an encrypted file (docs/PROTOCOL.md §11.1; the layout is in
 * src/protocol/file-chunks.ts). ChaCha20-Poly1305 (RFC 8439) from node:crypto: native, above
 * 1 GB/s, and its 96-bit nonce holds the chunk index and the final flag, which is safe because
 * every file has its own random key (a counter nonce under a one-file key never repeats).
 * XChaCha20 / secretbox would need tweetnacl (pure JS, ~10x slower) for no gain here.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { DataError } from '../errors.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import { BLOB_ID_BYTES, CHUNK_TAG_BYTES, chunkAd, chunkCount, chunkNonce, chunkPlainLength, FILE_KEY_BYTES } from '../protocol/file-chunks.js';
import { hmacSha256 } from './kdf.js';
import { NONCE_BYTES, type Random, secretbox, secretboxOpen, wipe } from './nacl.js';

function checkKey(key: Uint8Array, blobId: Uint8Array): void {
  if (key.length !== FILE_KEY_BYTES) throw new DataError('BAD_FILE_KEY', `a file key is ${FILE_KEY_BYTES} bytes`);
  if (blobId.length !== BLOB_ID_BYTES) throw new DataError('BAD_BLOB_ID', `a blob id is ${BLOB_ID_BYTES} bytes`);
}

/** sealed_i = ChaCha20-Poly1305(key, nonce_i, ad_i, plain) || tag (plain.length + 16 bytes). */
export function sealChunk(key: Uint8Array, blobId: Uint8Array, i: number, final: boolean, plain: Uint8Array): Buffer {
  return sealChunkAfter(0, key, blobId, i, final, plain);
}

/**
 * sealChunk's bytes after `room` unwritten bytes, in one buffer (the caller writes a frame
 * header there: the sealed chunk is copied once, not once more into a frame): the start of
 * `into` when it is long enough (a buffer the caller reuses), else a new one.
 */
export function sealChunkAfter(room: number, key: Uint8Array, blobId: Uint8Array, i: number, final: boolean, plain: Uint8Array, into?: Buffer): Buffer {
  checkKey(key, blobId);
  const c = createCipheriv('chacha20-poly1305', key, chunkNonce(i, final), { authTagLength: CHUNK_TAG_BYTES });
  c.setAAD(chunkAd(blobId, i, final), { plaintextLength: plain.length });
  const need = room + plain.length + CHUNK_TAG_BYTES;
  const out = into !== undefined && into.length >= need ? into.subarray(0, need) : Buffer.allocUnsafe(need);
  const body = c.update(plain);
  body.copy(out, room);
  c.final();
  c.getAuthTag().copy(out, room + body.length);
  return out;
}

/**
 * The plaintext of chunk `i`, or DataError CHUNK_TAMPERED when it does not authenticate as chunk
 * `i` of this blob with this final flag (tampered, moved, truncated, extended or spliced).
 */
export function openChunk(key: Uint8Array, blobId: Uint8Array, i: number, final: boolean, sealed: Uint8Array): Buffer {
  checkKey(key, blobId);
  const bad = (): DataError =>
    new DataError('CHUNK_TAMPERED', `chunk ${i} of the file does not authenticate (altered, reordered, truncated or from another file)`, {
      hint: 'nothing was written; ask the sender to send the file again',
    });
  if (sealed.length < CHUNK_TAG_BYTES) throw bad();
  const d = createDecipheriv('chacha20-poly1305', key, chunkNonce(i, final), { authTagLength: CHUNK_TAG_BYTES });
  const body = sealed.subarray(0, sealed.length - CHUNK_TAG_BYTES);
  d.setAAD(chunkAd(blobId, i, final), { plaintextLength: body.length });
  d.setAuthTag(sealed.subarray(sealed.length - CHUNK_TAG_BYTES));
  const out = d.update(body);
  try {
    d.final();
  } catch {
    throw bad();
  }
  return out;
}

/**
 * An unfinished upload's file key as kept on disk (so that `hush send` resumes after a crash):
 * nonce[24] || secretbox(fileKey, nonce, HMAC-SHA256(historyKey, "hush/v1/upload-state" 0x00)).
 */
export function sealUploadKey(historyKey: Uint8Array, fileKey: Uint8Array, random: Random): Uint8Array {
  const k = hmacSha256(historyKey, domainBytes(DOMAIN.uploadState));
  const nonce = random(NONCE_BYTES);
  const box = secretbox(fileKey, nonce, k);
  wipe(k);
  const out = new Uint8Array(NONCE_BYTES + box.length);
  out.set(nonce);
  out.set(box, NONCE_BYTES);
  return out;
}

/** The file key of sealUploadKey, or undefined when it does not open (another home, altered). */
export function openUploadKey(historyKey: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < NONCE_BYTES) return undefined;
  const k = hmacSha256(historyKey, domainBytes(DOMAIN.uploadState));
  const key = secretboxOpen(sealed.subarray(NONCE_BYTES), sealed.subarray(0, NONCE_BYTES), k);
  wipe(k);
  return key !== null && key.length === FILE_KEY_BYTES ? key : undefined;
}

/**
 * A whole blob opened in memory (the vectors and tests; `hush save` streams instead, with the
 * same checks, src/client/blob-transfer.ts): exactly n = chunkCount(size, chunk) sealed chunks
 * (CHUNK_COUNT otherwise), each opening as chunk i with its final flag and holding its length
 * (CHUNK_TAMPERED), and the plaintext hashing to `sha256` (FILE_HASH_MISMATCH).
 */
export function openBlob(key: Uint8Array, blobId: Uint8Array, size: number, chunk: number, sha256: Uint8Array, sealed: readonly Uint8Array[]): Buffer {
  const n = chunkCount(size, chunk);
  if (sealed.length !== n) throw new DataError('CHUNK_COUNT', `the file should have ${n} chunks, ${sealed.length} came`);
  const parts = sealed.map((c, i) => {
    const p = openChunk(key, blobId, i, i === n - 1, c);
    if (p.length !== chunkPlainLength(size, chunk, i)) throw new DataError('CHUNK_TAMPERED', `chunk ${i} has the wrong length`);
    return p;
  });
  const out = Buffer.concat(parts);
  if (!createHash('sha256').update(out).digest().equals(sha256)) throw new DataError('FILE_HASH_MISMATCH', 'the file does not match its SHA-256');
  return out;
}
