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
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, ftruncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Blob files kept open at once. */
const OPEN_FDS = 64;

export class BlobFiles {
  private readonly fds = new Map<string, number>();

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
    closeSync(fd);
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
    } catch (e) {
      try {
        ftruncateSync(fd, offset);
      } catch {
        // the original error matters more
      }
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
