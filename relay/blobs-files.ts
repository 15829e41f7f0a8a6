/**
 * The bytes of blobs: one file per blob, `DATA/blobs/HEX.blob` (0600), sealed chunks laid end to
 * end (chunk i at offset i * chunk). Written and read one chunk at a time with positioned
 * synchronous I/O (a chunk is at most 64 KiB + 16: tens of microseconds in the page cache), so
 * a blob is never whole in memory. How many chunks are stored is the file's length: a relay
 * killed mid-write keeps every whole chunk, and `have` cuts the torn one off.
 *
 * The descriptors of the blobs in use stay open (at most OPEN_FDS, the least recently opened
 * closed first), so a chunk costs one pwrite or pread, not an open and a close around it.
 */
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, ftruncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Blob files kept open at once. */
const OPEN_FDS = 64;
/**
 * Bytes written to a blob file between two early flushes. The last chunk's fsync is what
 * promises the blob (PROTOCOL §7.9); without earlier flushes it wrote the whole file at once
 * (the page cache holds gigabytes before writing back on its own): 77-130 ms per 100 MiB here,
 * during which that synchronous fsync held the relay's loop, and every recipient's gets with
 * it. An fdatasync in the thread pool every FLUSH_BYTES keeps the last fsync short (its failure
 * fails the last chunk's put as that fsync's would: `flushed`).
 */
const FLUSH_BYTES = 8 * 1024 * 1024;

export class BlobFiles {
  private readonly fds = new Map<string, number>();
  /** Bytes written to each open blob file since its last early flush began. */
  private readonly unflushed = new Map<string, number>();
  /**
   * Blob files with an early flush in the thread pool (at most one each); `close`: descriptors
   * released meanwhile, closed once the flush is done (so none is reused under it).
   */
  private readonly flushing = new Map<string, { close: number[]; done: Promise<void> }>();
  /**
   * What an early flush of a blob file failed with: Linux reports a write-back error once per
   * open file, so the last chunk's fsync might not see it again; `flushed` throws it instead.
   */
  private readonly failed = new Map<string, Error>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  path(id: string): string {
    return join(this.dir, `${id}.blob`);
  }

  /** Creates the empty file of a new blob. */
  create(id: string): void {
    closeSync(openSync(this.path(id), 'wx', 0o600));
  }

  /** Bytes on disk (0 when the file is missing). */
  size(id: string): number {
    try {
      return statSync(this.path(id)).size;
    } catch {
      return 0;
    }
  }

  /** The open descriptor of blob `id` (read and write). */
  private fd(id: string): number {
    const have = this.fds.get(id);
    if (have !== undefined) return have;
    const fd = openSync(this.path(id), 'r+');
    if (this.fds.size >= OPEN_FDS) {
      const [oldId] = this.fds.keys();
      this.release(oldId!);
    }
    this.fds.set(id, fd);
    return fd;
  }

  /** Closes the descriptor of blob `id` if it is open (an upload finished, a blob deleted). */
  release(id: string): void {
    const fd = this.fds.get(id);
    if (fd === undefined) return;
    this.fds.delete(id);
    this.unflushed.delete(id);
    const flush = this.flushing.get(id);
    if (flush) flush.close.push(fd);
    else closeSync(fd);
  }

  closeAll(): void {
    for (const id of [...this.fds.keys()]) this.release(id);
  }

  /**
   * Writes `data` at `offset`, the file's end (the caller checked: `have` cut any torn write).
   * On error (ENOSPC, EFBIG...) the file is cut back to `offset` and the error rethrown.
   */
  write(id: string, offset: number, data: Uint8Array, sync: boolean): void {
    const fd = this.fd(id);
    try {
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
      if (sync) fsyncSync(fd);
      else this.flushEarly(id, fd, data.length);
    } catch (e) {
      try {
        ftruncateSync(fd, offset);
      } catch {
        // the original error matters more
      }
      throw e;
    }
  }

  /** Starts an fdatasync of blob `id` once FLUSH_BYTES were written since the last one began (a write-back only: errors are the last fsync's to report). */
  private flushEarly(id: string, fd: number, bytes: number): void {
    const n = (this.unflushed.get(id) ?? 0) + bytes;
    if (n < FLUSH_BYTES || this.flushing.has(id)) return void this.unflushed.set(id, n);
    this.unflushed.set(id, 0);
    const close: number[] = [];
    const done = new Promise<void>((resolve) =>
      fdatasync(fd, (e) => {
        if (e && !this.failed.has(id)) this.failed.set(id, e);
        this.flushing.delete(id);
        for (const d of close) closeSync(d);
        resolve();
      }),
    );
    this.flushing.set(id, { close, done });
  }

  /**
   * Waits for the early flush of blob `id` in flight, if any, and throws what an early flush of
   * it failed with (once): called before the last chunk's write and fsync, so that fsync
   * promises every byte (PROTOCOL §7.9).
   */
  async flushed(id: string): Promise<void> {
    await this.flushing.get(id)?.done;
    const e = this.failed.get(id);
    if (e) {
      this.failed.delete(id);
      throw e;
    }
  }

  /** Cuts the file to `length` bytes (a torn chunk after a crash). */
  truncate(id: string, length: number): void {
    ftruncateSync(this.fd(id), length);
  }

  read(id: string, offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    this.readInto(id, offset, length, buf, 0);
    return buf;
  }

  /** Reads `length` bytes at `offset` into `buf` at `at`. */
  readInto(id: string, offset: number, length: number, buf: Uint8Array, at: number): void {
    const fd = this.fd(id);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, at + done, length - done, offset + done);
      if (n === 0) throw Object.assign(new Error('blob file is shorter than its metadata'), { code: 'BLOB_SHORT' });
      done += n;
    }
  }

  remove(id: string): void {
    this.release(id);
    this.failed.delete(id);
    try {
      unlinkSync(this.path(id));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  }

  /** Blob ids with a file on disk. */
  list(): string[] {
    return readdirSync(this.dir)
      .filter((f) => /^[0-9a-f]{32}\.blob$/.test(f))
      .map((f) => f.slice(0, 32));
  }
}
