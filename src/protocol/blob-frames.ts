/**
 * The relay's blob frames (docs/PROTOCOL.md §7.8): uploading, downloading and acknowledging the
 * sealed chunks of a file. Same envelope as every frame (`{"v":1,"t":TYPE,"id":ID,...}`, JSON
 * text, src/protocol/frames.ts parses the header and hands the body here).
 *
 * Client -> relay                                         Relay -> client
 *   blob-begin  {to:[B64(32)..], bytes, chunk, chunks}      blob  {blob, have, chunks, bytes, done}
 *   blob-resume {blob}                                      blob
 *   blob-put    {blob, i, data:B64}                         blob
 *   blob-finish {blob}                                      blob  (done: true)
 *   blob-get    {blob, i}                                   chunk {blob, i, data:B64}
 *   blob-get    {blob, i, bin:1}                            a binary chunk frame (blob-binary.ts)
 *   (binary put, blob-binary.ts)                            blob
 *   blob-ack    {blob}                                      ok
 *   blob-delete {blob}                                      ok
 */
import { BLOB_ID_BYTES, CHUNK_TAG_BYTES, MAX_SEALED_CHUNK } from './file-chunks.js';
import { arr, b64, bool, fail, int, optInt, type Obj } from './validate.js';
import { binRequestId } from './blob-binary.js';

export const BLOB_ID_RE = /^[0-9a-f]{32}$/;
/** Most recipients of one blob. */
export const MAX_BLOB_RECIPIENTS = 16;
/** Largest blob a frame may declare (the relay's own cap, --blob-max, is lower or equal). */
export const MAX_BLOB_BYTES = 2 ** 48;

export interface BlobBeginFrame {
  v: 1;
  t: 'blob-begin';
  id: string;
  to: Uint8Array[];
  /** Total sealed bytes. */
  bytes: number;
  /** Sealed bytes of every chunk but the last. */
  chunk: number;
  chunks: number;
}
export interface BlobRefFrame {
  v: 1;
  t: 'blob-resume' | 'blob-finish' | 'blob-ack' | 'blob-delete';
  id: string;
  blob: string;
}
export interface BlobPutFrame {
  v: 1;
  t: 'blob-put';
  id: string;
  blob: string;
  i: number;
  data: Uint8Array;
}
export interface BlobGetFrame {
  v: 1;
  t: 'blob-get';
  id: string;
  blob: string;
  i: number;
  /** 1: answer with a binary chunk frame (§7.9.1; the id must then be decimal, 1..2^32-1); absent: a JSON `chunk` frame. */
  bin?: 1;
}
export type BlobClientFrame = BlobBeginFrame | BlobRefFrame | BlobPutFrame | BlobGetFrame;
export const BLOB_CLIENT_FRAME_TYPES: readonly BlobClientFrame['t'][] = ['blob-begin', 'blob-resume', 'blob-put', 'blob-finish', 'blob-get', 'blob-ack', 'blob-delete'];

/** The state of a blob: `have` chunks stored (0 .. chunks), `done` once finished. */
export interface BlobStateFrame {
  v: 1;
  t: 'blob';
  id: string;
  blob: string;
  have: number;
  chunks: number;
  bytes: number;
  done: boolean;
}
export interface ChunkFrame {
  v: 1;
  t: 'chunk';
  id: string;
  blob: string;
  i: number;
  data: Uint8Array;
}
export type BlobRelayFrame = BlobStateFrame | ChunkFrame;

export function blobIdText(v: unknown, path: string): string {
  if (typeof v !== 'string' || !BLOB_ID_RE.test(v)) fail(path, `must be ${BLOB_ID_BYTES * 2} lowercase hex characters`);
  return v;
}

/**
 * Checks that `bytes` sealed bytes cut in `chunks` chunks of `chunk` bytes leave a last chunk of
 * 16 (a tag alone) to `chunk` bytes. Returns the problem, or undefined.
 */
export function blobShapeProblem(bytes: number, chunk: number, chunks: number): string | undefined {
  const last = bytes - (chunks - 1) * chunk;
  if (last < CHUNK_TAG_BYTES || last > chunk) return `${bytes} bytes do not make ${chunks} chunks of ${chunk} bytes (the last from ${CHUNK_TAG_BYTES} to ${chunk})`;
  return undefined;
}

/** The body of a blob client frame whose header (v, t, id) frames.ts already checked. */
export function parseBlobClientFrame(o: Obj, t: BlobClientFrame['t'], id: string): BlobClientFrame {
  const p = `frame(${t})`;
  const blob = (): string => blobIdText(o.blob, `${p}.blob`);
  switch (t) {
    case 'blob-begin': {
      const to = arr(o, 'to', p, MAX_BLOB_RECIPIENTS).map((_x, i, list) => b64(list as unknown as Obj, String(i), `${p}.to`, { len: 32 }));
      if (to.length === 0) fail(`${p}.to`, 'must name at least one recipient');
      const bytes = int(o, 'bytes', p, CHUNK_TAG_BYTES, MAX_BLOB_BYTES);
      const chunk = int(o, 'chunk', p, CHUNK_TAG_BYTES + 1, MAX_SEALED_CHUNK);
      const chunks = int(o, 'chunks', p, 1, MAX_BLOB_BYTES);
      const why = blobShapeProblem(bytes, chunk, chunks);
      if (why) fail(p, why);
      return { v: 1, t, id, to, bytes, chunk, chunks };
    }
    case 'blob-put':
      return { v: 1, t, id, blob: blob(), i: int(o, 'i', p, 0, MAX_BLOB_BYTES), data: b64(o, 'data', p, { min: CHUNK_TAG_BYTES, max: MAX_SEALED_CHUNK }) };
    case 'blob-get':
      return { v: 1, t, id, blob: blob(), i: int(o, 'i', p, 0, MAX_BLOB_BYTES), ...optBin(o, p, id) };
    default:
      return { v: 1, t, id, blob: blob() };
  }
}

/** The body of a blob relay frame (client side); undefined when `t` is not one. */
export function parseBlobRelayFrame(o: Obj, t: string, id: string | undefined): BlobRelayFrame | undefined {
  if (t !== 'blob' && t !== 'chunk') return undefined;
  const p = `frame(${t})`;
  if (id === undefined) fail(`${p}.id`, 'must be a request id');
  const blob = blobIdText(o.blob, `${p}.blob`);
  if (t === 'chunk') return { v: 1, t, id, blob, i: int(o, 'i', p, 0, MAX_BLOB_BYTES), data: b64(o, 'data', p, { max: MAX_SEALED_CHUNK }) };
  return {
    v: 1,
    t,
    id,
    blob,
    have: int(o, 'have', p, 0, MAX_BLOB_BYTES),
    chunks: int(o, 'chunks', p, 1, MAX_BLOB_BYTES),
    bytes: int(o, 'bytes', p, 0, MAX_BLOB_BYTES),
    done: bool(o, 'done', p),
  };
}

/**
 * The optional `bin` field of a request answered in a binary frame (`blob-get`, §7.9.1; `pull`,
 * §7.2.1): `{ bin: 1 }` when it is 1, `{}` when absent; any other value, or `bin` with a request
 * id that is not the decimal text of 1..2^32-1 (the binary answer carries it as a u32), fails.
 */
export function optBin(o: Obj, p: string, id: string): { bin?: 1 } {
  const bin = optInt(o, 'bin', p, 1, 1);
  if (bin === undefined) return {};
  if (binRequestId(id) === undefined) fail(`${p}.id`, 'must be a decimal number from 1 to 2^32-1 when bin is 1 (the binary answer carries it as a u32)');
  return { bin: 1 };
}
