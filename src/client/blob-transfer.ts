/**
 * Sending and fetching files through the relay's blob store (docs/PROTOCOL.md §7.9, §11):
 * `uploadFile` seals a file chunk by chunk under a fresh random key and uploads the chunks;
 * `downloadFile` fetches, opens and checks them and writes the plaintext atomically. Both
 * stream: at most a window of chunks (2 MiB of 64 KiB chunks, 4 of 1 MiB) is in memory or in
 * flight, whatever the size. The chunk size is the relay's (RelayClient.fileChunkSize, §11.1).
 *
 * The relay names the chunks it holds (`have`), so an upload resumes from there; a download
 * keeps its verified prefix in a temporary file beside the destination and resumes from it.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { type FileHandle, link, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DataError, RelayError, UsageError } from '../errors.js';
import { openChunk, sealChunk, sealChunkAfter } from '../crypto/file-chunks.js';
import { BLOB_BIN_HEADER_BYTES } from '../protocol/blob-binary.js';
import { randomBytes } from '../crypto/nacl.js';
import { fromHex, toHex } from '../protocol/encoding.js';
import { CHUNK_SIZE, CHUNK_TAG_BYTES, chunkCount, chunkPlainLength, FILE_KEY_BYTES, LARGE_CHUNK_SIZE, sealedSize } from '../protocol/file-chunks.js';
import type { FileDescriptor } from '../protocol/file-descriptor.js';
import type { RelayClient } from './relay-client.js';

/**
 * Chunks in flight at once: 2 MiB of them, at least 4: 32 x 64 KiB (8 kept the relay idle
 * between answers), 4 x 1 MiB (2, 4 and 8 measured alike). Small and flat in the file size.
 */
export function windowFor(chunk: number): number {
  return Math.max(4, Math.floor((2 * 1024 * 1024) / chunk));
}

/**
 * The window is refilled once a quarter of its places are free (8 of 32), so the requests of a
 * refill leave in one turn and one write (RelayClient batches a turn's blob frames), not one each.
 */
function refillFor(window: number): number {
  return Math.max(1, Math.floor(window / 4));
}

/** Bytes an upload reads from its file at once (a whole number of chunks: every chunk size divides it). */
const READ_BYTES = LARGE_CHUNK_SIZE;
/** Bytes of verified chunks a download writes with one writev (at least one chunk). */
const WRITE_BYTES = 1024 * 1024;
/**
 * Bytes a download writes between two early flushes (an fdatasync in the thread pool, not
 * awaited; a failure fails the save as the final fsync's would). The page cache holds
 * gigabytes before it writes back on its own, so the fsync before the rename wrote the whole
 * file at once, at the very end of the save; it now has at most this much left.
 */
const FLUSH_BYTES = 8 * 1024 * 1024;

export type Progress = (done: number, total: number) => void;

/** Runs `task(i)` for i in [from, n) with at most `window` at once; `task` results are consumed in order by `take`. */
async function pipelined<T>(window: number, from: number, n: number, task: (i: number) => Promise<T>, take: (i: number, v: T) => Promise<void> | void): Promise<void> {
  const refill = refillFor(window);
  const inflight: Promise<T>[] = [];
  let next = from;
  const fill = (): void => {
    if (next > from && inflight.length > window - refill) return;
    while (next < n && inflight.length < window) {
      const p = task(next++);
      p.catch(() => undefined); // observed below, in order; a later rejection must not go unhandled meanwhile
      inflight.push(p);
    }
  };
  fill();
  for (let i = from; i < n; i++) {
    const v = await inflight.shift()!;
    await take(i, v);
    fill();
  }
}

async function readExactly(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new DataError('FILE_CHANGED', 'the file got shorter while it was being read', { hint: 'send it again once nothing writes to it' });
    done += bytesRead;
  }
}

export interface UploadResult {
  descriptor: Omit<FileDescriptor, 'name' | 'text'>;
  /** Plaintext bytes the relay already had (a resumed upload), else 0. */
  resumed: number;
}

/** Where an upload reads its plaintext: a size known up front and chunk reads at any offset. */
export interface ChunkSource {
  size: number;
  /** `len` bytes at `offset`: one chunk (offset a multiple of the upload's chunk size, which divides READ_BYTES). */
  read(offset: number, len: number): Promise<Buffer>;
  /** Throws when the source changed while it was read (a file written meanwhile). */
  check?(): Promise<void>;
  /** SHA-256 of the whole source, when the source can take it more cheaply than chunk reads; undefined once `stop()` said so. */
  sha256?(stop: () => boolean): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/** A regular file as a ChunkSource; UsageError FILE_UNREADABLE for a path that cannot be read. */
export async function fileSource(path: string): Promise<ChunkSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new UsageError('FILE_UNREADABLE', `${path} is not a regular file`, { hint: 'give the path of a file (a directory: tar it first)' });
  }
  // Read READ_BYTES per read (a pread per 64 KiB chunk cost an eighth of an upload's time):
  // the blocks of the window are kept, those behind it dropped.
  const blocks = new Map<number, Promise<Buffer>>();
  const blockBytes = READ_BYTES;
  const block = (b: number): Promise<Buffer> => {
    let p = blocks.get(b);
    if (!p) {
      const len = Math.min(blockBytes, st.size - b * blockBytes);
      const buf = Buffer.allocUnsafe(len);
      p = readExactly(fh, buf, len, b * blockBytes).then(() => buf);
      p.catch(() => undefined); // observed by the chunk reads
      blocks.set(b, p);
      for (const k of blocks.keys()) if (k < b - 1) blocks.delete(k);
    }
    return p;
  };
  return {
    size: st.size,
    async read(offset, len) {
      if (len === 0) return Buffer.alloc(0);
      const b = Math.floor(offset / blockBytes);
      const at = offset - b * blockBytes;
      const buf = await block(b);
      if (buf.length < at + len) throw new RangeError('chunk read past the end of the file');
      return buf.subarray(at, at + len);
    },
    async sha256(stop) {
      // One buffer for the whole pass (a fresh 1 MiB per block was 100 MiB of garbage per 100 MiB sent).
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(blockBytes);
      for (let at = 0; at < st.size; at += blockBytes) {
        if (stop()) return undefined;
        const len = Math.min(blockBytes, st.size - at);
        await readExactly(fh, buf, len, at);
        h.update(buf.subarray(0, len));
      }
      return h.digest();
    },
    async check() {
      const after = await fh.stat();
      if (after.size !== st.size || after.mtimeMs !== st.mtimeMs)
        throw new DataError('FILE_CHANGED', `${path} changed while it was being sent`, { hint: 'send it again once nothing writes to it' });
    },
    close: () => fh.close(),
  };
}

/**
 * A stream (stdin) as a ChunkSource: spooled first to `spoolPath` (0600), sealed chunk by chunk
 * under a random key that never leaves this process, so no plaintext reaches the disk; the
 * spool is removed by close().
 */
export async function spooledSource(stream: AsyncIterable<Buffer>, spoolPath: string): Promise<ChunkSource> {
  const key = randomBytes(FILE_KEY_BYTES);
  const id = randomBytes(16);
  const fh = await open(spoolPath, 'wx+', 0o600);
  let size = 0;
  let i = 0;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const flush = async (len: number): Promise<void> => {
    const all = Buffer.concat(pending, pendingLen);
    const part = all.subarray(0, len);
    const sealed = sealChunk(key, id, i, false, part);
    await fh.write(sealed, 0, sealed.length, i * (CHUNK_SIZE + CHUNK_TAG_BYTES));
    i++;
    size += len;
    pending = [all.subarray(len)];
    pendingLen -= len;
  };
  try {
    for await (const data of stream) {
      pending.push(data);
      pendingLen += data.length;
      while (pendingLen >= CHUNK_SIZE) await flush(CHUNK_SIZE);
    }
    if (pendingLen > 0) await flush(pendingLen);
  } catch (e) {
    await fh.close();
    await unlink(spoolPath).catch(() => undefined);
    throw e;
  }
  return {
    size,
    async read(offset, len) {
      // The spool is in 64 KiB pieces; a larger upload chunk is several of them.
      const parts: Buffer[] = [];
      for (let at = offset; at < offset + len; at += CHUNK_SIZE) {
        const j = at / CHUNK_SIZE;
        const sealed = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, offset + len - at) + CHUNK_TAG_BYTES);
        await readExactly(fh, sealed, sealed.length, j * (CHUNK_SIZE + CHUNK_TAG_BYTES));
        parts.push(openChunk(key, id, j, false, sealed));
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts, len);
    },
    async close() {
      await fh.close();
      await unlink(spoolPath).catch(() => undefined);
    },
  };
}

export interface UploadOptions {
  onProgress?: Progress;
  /** An earlier upload of the same source to resume (src/client/upload-state.ts); RelayError NOT_FOUND when the relay no longer has it. */
  resume?: { blob: string; key: Uint8Array };
  /** Called once the relay named the blob, before any chunk is sent (to record it for a resume). */
  onBegun?: (blob: string, key: Uint8Array) => Promise<void>;
  /**
   * Called with the whole descriptor before the first chunk is sent (the file is hashed first):
   * the file message can go out while the upload runs, and the recipient save it meanwhile
   * from a relay that streams blobs (§7.9). Without it the hash is taken during the upload.
   */
  onReady?: (descriptor: UploadResult['descriptor']) => Promise<void>;
}

/** SHA-256 of the whole source, read chunk by chunk; undefined once `stop()` says so. */
async function hashSource(src: ChunkSource, stop: () => boolean): Promise<Buffer | undefined> {
  if (src.sha256) return src.sha256(stop);
  const h = createHash('sha256');
  const n = chunkCount(src.size, CHUNK_SIZE);
  for (let i = 0; i < n; i++) {
    if (stop()) return undefined;
    h.update(await src.read(i * CHUNK_SIZE, chunkPlainLength(src.size, CHUNK_SIZE, i)));
  }
  return h.digest();
}

/**
 * Seals and uploads `src` for `to` (signing keys); RelayError for the relay's refusals. Closes
 * `src`. A resumed upload re-reads (and hashes) the chunks the relay has and sends the rest.
 */
export async function uploadFile(client: RelayClient, src: ChunkSource, to: readonly Uint8Array[], o: UploadOptions = {}): Promise<UploadResult> {
  const onProgress = o.onProgress;
  // With onReady the file is hashed first; the hashing starts now, so that it runs while
  // blob-begin and onBegun wait (for the relay, for the disk), not after them.
  let stopped = false;
  const hashing = o.onReady ? hashSource(src, () => stopped) : undefined;
  hashing?.catch(() => undefined); // observed below; a failure after an earlier error must not go unhandled
  try {
    const size = src.size;
    const hash = createHash('sha256');
    let key: Uint8Array;
    let state;
    let chunk: number;
    if (o.resume) {
      state = await client.blobResume(o.resume.blob);
      // The chunk size of the interrupted upload: the one whose count and sealed size the relay holds.
      const found = resumeChunkSize(size, state.chunks, state.bytes);
      if (found === undefined) throw new DataError('FILE_CHANGED', 'the file is not the one whose upload was interrupted');
      chunk = found;
      key = o.resume.key;
    } else {
      chunk = client.fileChunkSize;
      key = randomBytes(FILE_KEY_BYTES);
      state = await client.blobBegin(to, sealedSize(size, chunk), chunk + CHUNK_TAG_BYTES, chunkCount(size, chunk));
      await o.onBegun?.(state.blob, key);
    }
    const n = chunkCount(size, chunk);
    const window = windowFor(chunk);
    const begun = state;
    const blob = fromHex(begun.blob, 'blob id');
    const early = hashing ? await hashing : undefined;
    if (early) await o.onReady!({ blob, key, size, chunk, sha256: early });
    else for (let i = 0; i < begun.have; i++) hash.update(await src.read(i * chunk, chunkPlainLength(size, chunk, i)));
    const resumed = Math.min(size, begun.have * chunk);
    let turn: Promise<void> = Promise.resolve();
    // Frame buffers the socket has written out, sealed into again (a fresh 64 KiB per chunk
    // was a third of the sender's allocations, and a full garbage collection every ~20 MB).
    const spare: Buffer[] = [];
    const frameBytes = BLOB_BIN_HEADER_BYTES + chunk + CHUNK_TAG_BYTES;
    let sent = resumed;
    onProgress?.(sent, size);
    await pipelined(
      window,
      begun.have,
      n,
      async (i) => {
        // Reads finish in any order, but the relay takes chunks in order: each put waits for the previous one to be sent.
        const myTurn = turn;
        let release = (): void => undefined;
        turn = new Promise<void>((r) => (release = r));
        try {
          const buf = await src.read(i * chunk, chunkPlainLength(size, chunk, i));
          const into = spare.pop() ?? Buffer.allocUnsafe(frameBytes);
          const framed = sealChunkAfter(BLOB_BIN_HEADER_BYTES, key, blob, i, i === n - 1, buf, into);
          await myTurn;
          // The frame is handed to the socket synchronously; its buffer is reused once written out.
          const put = client.blobPutFramed(begun.blob, i, framed, () => void (spare.length < window + refillFor(window) && spare.push(into)));
          release();
          await put;
          return buf;
        } finally {
          release();
        }
      },
      (_i, buf) => {
        if (!early) hash.update(buf); // here, in index order (the reads of the window may finish in any order)
        sent += buf.length;
        onProgress?.(sent, size);
      },
    );
    await src.check?.();
    await client.blobFinish(begun.blob);
    return { descriptor: { blob, key, size, chunk, sha256: early ?? hash.digest() }, resumed };
  } finally {
    stopped = true;
    await hashing?.catch(() => undefined); // no read of the source after it is closed
    await src.close();
  }
}

/** The chunk size (64 KiB, 128 KiB ... 1 MiB) of `size` plaintext bytes in `chunks` chunks of `bytes` sealed bytes, or undefined. */
export function resumeChunkSize(size: number, chunks: number, bytes: number): number | undefined {
  for (let c = CHUNK_SIZE; c <= LARGE_CHUNK_SIZE; c *= 2) if (chunkCount(size, c) === chunks && sealedSize(size, c) === bytes) return c;
  return undefined;
}

function unreadable(path: string, e: unknown): UsageError {
  const code = (e as { code?: string }).code;
  const why =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'is not readable (permission denied)'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot be read (${code ?? 'error'})`;
  return new UsageError('FILE_UNREADABLE', `${path} ${why}`, { cause: e, hint: 'check the path; a directory must be archived first (tar)' });
}

export interface DownloadOptions {
  /** Replace an existing file at `dest`. */
  force?: boolean;
  onProgress?: Progress;
}

/** The temporary file of a download to `dest`: hidden, beside it (same file system: rename is atomic). */
export function partPath(dest: string, d: FileDescriptor): string {
  return join(dirname(dest), `.${basename(dest)}.${toHex(d.blob).slice(0, 12)}.hush-part`);
}

function diskError(dest: string, e: unknown): unknown {
  const code = (e as { code?: string }).code;
  // EFBIG: the file outgrew what this process may write (RLIMIT_FSIZE) or the file system holds.
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG')
    return new DataError('DISK_FULL', `no space left to write ${dest} (${code}); nothing was written there`, {
      cause: e,
      hint: 'free some space (or save elsewhere with -o) and run hush save again',
    });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT' || code === 'ENOTDIR')
    return new UsageError('SAVE_DENIED', `cannot write ${dest} (${code})`, { cause: e, hint: 'choose a directory you can write to with -o' });
  return e;
}

/**
 * Fetches the blob of `d`, opens every chunk, checks size and SHA-256 and renames the result
 * to `dest`. A chunk that does not authenticate (DataError CHUNK_TAMPERED), a hash mismatch
 * (FILE_HASH_MISMATCH) or a full disk (DISK_FULL) removes the temporary file: nothing is left
 * at `dest`. An interrupted download leaves its verified prefix in partPath(dest) and the next
 * call resumes after it. Acks the blob once the file is in place.
 */
export async function downloadFile(client: RelayClient, d: FileDescriptor, dest: string, o: DownloadOptions = {}): Promise<void> {
  if (!o.force && (await exists(dest))) throw fileExists(dest);
  const part = partPath(dest, d);
  const n = chunkCount(d.size, d.chunk);
  const blob = toHex(d.blob);
  let fh: FileHandle;
  try {
    fh = await open(part, fsc.O_RDWR | fsc.O_CREAT, 0o600);
  } catch (e) {
    throw diskError(dest, e);
  }
  const hash = createHash('sha256');
  let keep = false;
  let early: Promise<void> | undefined; // an early flush in flight (never rejects)
  let earlyError: unknown; // what an early flush failed with: the final fsync might not report it again (Linux reports a write-back error once per open file)
  try {
    // Resume: the whole chunks already there were authenticated before they were written.
    const have = Math.min(Math.floor((await fh.stat()).size / d.chunk), n - 1);
    await rehash(fh, hash, have * d.chunk);
    await fh.truncate(have * d.chunk);
    let done = have * d.chunk;
    o.onProgress?.(done, d.size);
    // Verified chunks are written WRITE_BYTES at a time (one writev, not a write per chunk).
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let batchAt = done;
    let flushedAt = done;
    const flush = async (): Promise<void> => {
      const bufs = batch;
      batch = [];
      batchBytes = 0;
      let pos = batchAt;
      for (let k = 0; k < bufs.length;) {
        const { bytesWritten } = await fh.writev(bufs.slice(k), pos);
        pos += bytesWritten;
        let w = bytesWritten;
        while (k < bufs.length && w >= bufs[k]!.length) w -= bufs[k++]!.length;
        if (w > 0) bufs[k] = bufs[k]!.subarray(w); // a short write: the rest of this buffer next
      }
      batchAt = pos;
      done = pos;
      o.onProgress?.(done, d.size);
      if (done - flushedAt >= FLUSH_BYTES && early === undefined) {
        flushedAt = done;
        early = fh.datasync().then(
          () => void (early = undefined),
          (e: unknown) => {
            earlyError ??= e;
            early = undefined;
          },
        );
      }
    };
    try {
      await pipelined(
        windowFor(d.chunk),
        have,
        n,
        (i) => client.blobGet(blob, i),
        async (i, f) => {
          const plain = openChunk(d.key, d.blob, i, i === n - 1, f.data);
          if (plain.length !== chunkPlainLength(d.size, d.chunk, i))
            throw new DataError('CHUNK_TAMPERED', `chunk ${i} has the wrong length`, { hint: 'ask the sender to send the file again' });
          hash.update(plain);
          batch.push(plain);
          batchBytes += plain.length;
          if (batchBytes >= WRITE_BYTES || i === n - 1) await flush();
        },
      );
    } catch (e) {
      if (e instanceof DataError) throw e; // tampered: the part goes (finally)
      if (e instanceof RelayError && e.code === 'NOT_FOUND') {
        throw new RelayError('FILE_GONE', 'the relay no longer has this file (already saved and acknowledged, expired, or deleted by its sender)', {
          cause: e,
          hint: 'ask the sender to send it again',
        }); // nothing to resume: the part goes (finally)
      }
      const disk = diskError(dest, e);
      if (disk instanceof DataError) throw disk; // a full disk: the part goes too (finally), nothing is left beside the destination
      if (batch.length > 0 && !isFsError(e)) await flush().catch(() => undefined); // verified chunks not yet written
      keep = true; // connection lost, relay error: keep the verified prefix for the next try
      throw disk;
    }
    if (!equal(hash.digest(), d.sha256))
      throw new DataError('FILE_HASH_MISMATCH', 'the file does not match the SHA-256 its sender announced; nothing was written', { hint: 'ask the sender to send it again' });
    await early;
    if (earlyError !== undefined) throw earlyError; // as the final fsync's own failure: nothing is placed
    await fh.sync();
    await fh.close();
    fh = undefined as unknown as FileHandle;
    await place(part, dest, o.force === true);
    keep = true;
  } catch (e) {
    throw diskError(dest, e);
  } finally {
    await early; // not closed under its flush
    if (fh) await fh.close().catch(() => undefined);
    if (!keep) await unlink(part).catch(() => undefined);
  }
  await client.blobAck(blob).catch(() => undefined); // the file is safe here; the relay's TTL deletes it otherwise
}

/** Moves the finished part to `dest`: without --force never over an existing file (link fails with EEXIST). */
async function place(part: string, dest: string, force: boolean): Promise<void> {
  if (force) return rename(part, dest);
  try {
    await link(part, dest);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EEXIST') throw fileExists(dest);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'EMLINK') throw e;
    if (await exists(dest)) throw fileExists(dest); // file systems without hard links
    return rename(part, dest);
  }
  await unlink(part);
}

async function rehash(fh: FileHandle, hash: Hash, length: number): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK_SIZE);
  for (let pos = 0; pos < length;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

function isFsError(e: unknown): boolean {
  return typeof (e as { syscall?: unknown }).syscall === 'string';
}

function fileExists(dest: string): UsageError {
  return new UsageError('FILE_EXISTS', `${dest} already exists`, { hint: 'choose another path with -o, or replace it with --force' });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
