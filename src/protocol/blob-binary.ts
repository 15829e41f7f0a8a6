/**
 * The binary blob frames (docs/PROTOCOL.md §7.9.1): chunk data travels in binary WebSocket
 * messages with a fixed 30-byte header, the sealed chunk's bytes after it, no JSON and no
 * base64. Control frames (blob-begin, the `blob` answers, errors) stay JSON text (blob-frames.ts).
 *
 *   offset  size  field
 *   0       1     version: 1
 *   1       1     type: 1 = put (client -> relay, answered by a JSON `blob` frame),
 *                       2 = chunk (relay -> client, the answer to a JSON `blob-get` with "bin":1)
 *   2       4     request id, u32 big-endian, 1 ..= 2^32 - 1; in JSON it is the decimal text
 *   6       16    blob id (the 32 hex characters of JSON, as bytes)
 *   22      8     chunk index, u64 big-endian, < 2^48
 *   30      n     the sealed chunk: 16 ..= 65,552 bytes (§11.1), or up to 1,048,592 to and from a
 *                 relay whose hello's `limits.blobChunk` takes larger chunks (§7.9.1)
 *
 * Parsing never copies the chunk: `data` is a view into the received buffer.
 */
import { BLOB_ID_BYTES, CHUNK_TAG_BYTES, MAX_SEALED_CHUNK_V1 } from './file-chunks.js';
import { toHex } from './encoding.js';

export const BLOB_BIN_VERSION = 1;
export const BLOB_BIN_HEADER_BYTES = 30;
export const BLOB_BIN_TYPE = { put: 1, chunk: 2 } as const;
export type BlobBinType = keyof typeof BLOB_BIN_TYPE;
/** Largest request id a binary frame carries (u32). */
export const MAX_BIN_REQUEST_ID = 2 ** 32 - 1;
/** Chunk indexes stay below 2^48 (exact in a double, like MAX_BLOB_BYTES). */
const MAX_INDEX_HIGH = 2 ** 16;

export interface BlobBinFrame {
  type: BlobBinType;
  /** The request id as its decimal text (the JSON form). */
  id: string;
  /** The blob id as 32 lowercase hex characters (the JSON form). */
  blob: string;
  i: number;
  /** The sealed chunk: a view into the received message, not a copy. */
  data: Uint8Array;
}

/** A refused binary frame (blob or mail page): its code, why, and the request id its header holds, if any. */
export type BinFrameProblem = { ok: false; code: 'BAD_FRAME' | 'UNSUPPORTED_VERSION' | 'UNKNOWN_TYPE'; message: string; id?: string };

export type BlobBinResult = { ok: true; frame: BlobBinFrame } | BinFrameProblem;

/**
 * The request id (its decimal text) in a binary frame's header, when the frame is version 1 and
 * long enough to hold a non-zero one: a refusal carries it, so the waiting request fails.
 */
export function binFrameId(b: Buffer): string | undefined {
  const rawId = b.length >= 6 && b[0] === BLOB_BIN_VERSION ? b.readUInt32BE(2) : 0;
  return rawId > 0 ? String(rawId) : undefined;
}

/** A refused binary frame, with the request id of its header when there is one (binFrameId). */
export function binFrameProblem(id: string | undefined, code: BinFrameProblem['code'], message: string): BinFrameProblem {
  return { ok: false, code, message, ...(id === undefined ? {} : { id }) };
}

/** The decimal request id `id` as a binary frame's u32, or undefined when it is not one. */
export function binRequestId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(id)) return undefined;
  const n = Number(id);
  return n <= MAX_BIN_REQUEST_ID ? n : undefined;
}

/** The 30-byte header of a binary blob frame. Throws RangeError for an id or index out of range (a caller's bug). */
export function encodeBlobBinHeader(type: BlobBinType, id: number, blob: Uint8Array, i: number): Buffer {
  return writeBlobBinHeader(Buffer.allocUnsafe(BLOB_BIN_HEADER_BYTES), type, id, blob, i);
}

/** Writes the 30-byte header into the first bytes of `h` (a frame whose chunk already follows them); returns `h`. */
export function writeBlobBinHeader(h: Buffer, type: BlobBinType, id: number, blob: Uint8Array, i: number): Buffer {
  if (!Number.isInteger(id) || id < 1 || id > MAX_BIN_REQUEST_ID) throw new RangeError(`request id ${id} is not 1..2^32-1`);
  if (!Number.isSafeInteger(i) || i < 0 || i >= 2 ** 48) throw new RangeError(`chunk index ${i} is not 0..2^48-1`);
  if (blob.length !== BLOB_ID_BYTES) throw new RangeError('a blob id is 16 bytes');
  if (h.length < BLOB_BIN_HEADER_BYTES) throw new RangeError('a binary frame is at least its 30-byte header');
  h[0] = BLOB_BIN_VERSION;
  h[1] = BLOB_BIN_TYPE[type];
  h.writeUInt32BE(id, 2);
  h.set(blob, 6);
  h.writeUInt32BE(Math.floor(i / 2 ** 32), 22);
  h.writeUInt32BE(i % 2 ** 32, 26);
  return h;
}

/** A whole binary blob frame (header and chunk in one buffer: one copy of the chunk). */
export function encodeBlobBin(type: BlobBinType, id: number, blob: Uint8Array, i: number, data: Uint8Array): Buffer {
  return Buffer.concat([encodeBlobBinHeader(type, id, blob, i), data], BLOB_BIN_HEADER_BYTES + data.length);
}

/**
 * Parses a binary blob frame that must be of type `want` (the relay takes puts, the client
 * chunks). Checked in this order: a frame shorter than a header and a tag (BAD_FRAME: so any
 * stray binary message is a bad frame); another version (UNSUPPORTED_VERSION); another type
 * (UNKNOWN_TYPE); a chunk over `maxData` bytes (65,552 unless this side declared larger chunks:
 * a relay its `limits.blobChunk` + 16, a client MAX_SEALED_CHUNK), a request id of 0, an index
 * of 2^48 or more (BAD_FRAME). The request id goes with the problem when the frame is version 1
 * and holds one.
 */
export function parseBlobBin(buf: Uint8Array, want: BlobBinType, maxData: number = MAX_SEALED_CHUNK_V1): BlobBinResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const id = binFrameId(b);
  const problem = (code: BinFrameProblem['code'], message: string): BinFrameProblem => binFrameProblem(id, code, message);
  const min = BLOB_BIN_HEADER_BYTES + CHUNK_TAG_BYTES;
  if (b.length < min) return problem('BAD_FRAME', `a binary frame is a blob chunk of at least ${min} bytes (PROTOCOL §7.9.1), this one is ${b.length}`);
  if (b[0] !== BLOB_BIN_VERSION) return problem('UNSUPPORTED_VERSION', `binary frame version ${b[0]} is not supported, this side speaks ${BLOB_BIN_VERSION}`);
  if (b[1] !== BLOB_BIN_TYPE[want]) return problem('UNKNOWN_TYPE', `binary frame type ${b[1]} is not taken here (expected ${BLOB_BIN_TYPE[want]}, ${want})`);
  if (b.length > BLOB_BIN_HEADER_BYTES + maxData) return problem('BAD_FRAME', `a binary frame is at most ${BLOB_BIN_HEADER_BYTES + maxData} bytes here, this one is ${b.length}`);
  if (id === undefined) return problem('BAD_FRAME', 'binary frame request id must be 1..2^32-1');
  const high = b.readUInt32BE(22);
  if (high >= MAX_INDEX_HIGH) return problem('BAD_FRAME', 'binary frame chunk index must be below 2^48');
  return {
    ok: true,
    frame: { type: want, id, blob: toHex(b.subarray(6, 22)), i: high * 2 ** 32 + b.readUInt32BE(26), data: b.subarray(BLOB_BIN_HEADER_BYTES) },
  };
}
