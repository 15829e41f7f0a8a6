/**
 * The bytes of blobs: one file per blob, `DATA/blobs/HEX.blob` (0600), sealed chunks laid end to
 * end (chunk i at offset i * chunk). Written and read one chunk at a time with positioned
 * synchronous I/O (a chunk is at most 64 KiB + 16: tens of microseconds in the page cache), so
 * a blob is never whole in memory. How many chunks are stored is the file's length: a relay
 * killed mid-write keeps every whole chunk, and `have` cuts the torn one off.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, ftruncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class BlobFiles {
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

  /**
   * Writes `data` at `offset` and cuts the file there (anything after a torn write goes). On
   * error (ENOSPC...) the file is cut back to `offset` and the error rethrown.
   */
  write(id: string, offset: number, data: Uint8Array, sync: boolean): void {
    const fd = openSync(this.path(id), 'r+');
    try {
      try {
        let done = 0;
        while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
        ftruncateSync(fd, offset + data.length);
        if (sync) fsyncSync(fd);
      } catch (e) {
        try {
          ftruncateSync(fd, offset);
        } catch {
          // the original error matters more
        }
        throw e;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Cuts the file to `length` bytes (a torn chunk after a crash). */
  truncate(id: string, length: number): void {
    const fd = openSync(this.path(id), 'r+');
    try {
      ftruncateSync(fd, length);
    } finally {
      closeSync(fd);
    }
  }

  read(id: string, offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    const fd = openSync(this.path(id), 'r');
    try {
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw Object.assign(new Error('blob file is shorter than its metadata'), { code: 'BLOB_SHORT' });
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  remove(id: string): void {
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
