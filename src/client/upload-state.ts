/**
 * Unfinished uploads, so that `hush send NAME --file PATH` run again after a crash (kill -9, a
 * lost connection) resumes from the last chunk the relay acknowledged instead of starting over.
 * One file per upload, HOME/transfers/up-BLOB.json (0600, written atomically), removed once the
 * upload is finished; `announced` (the hex ids of the file messages) is added once they are
 * queued (they go out as the upload begins, so that the recipient can save while it runs):
 *
 *   {"v":1,"blob":HEX32,"relay":URL,"to":B64(signPk),"source":HEX64,"size":N,"key":B64,"created":MS[,"announced":[HEX,...]]}
 *
 * `source` is SHA-256 of the file's real path, size and modification time (the path itself is
 * not written down); `key` is the file key sealed under a key derived from the history key
 * (sealUploadKey, src/crypto/file-chunks.ts): the file holds no secret in the clear.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openUploadKey, sealUploadKey } from '../crypto/file-chunks.js';
import { randomBytes } from '../crypto/nacl.js';
import { fromB64, toB64 } from '../protocol/encoding.js';
import { BLOB_ID_RE } from '../protocol/blob-frames.js';
import { atomicWriteFile } from '../store/fsutil.js';
import { isObj } from '../protocol/validate.js';

export interface UploadState {
  blob: string;
  key: Uint8Array;
  file: string;
  /**
   * Hex ids of the file messages queued for this upload (they go out once the upload begins):
   * a resume must not send them again. Empty: not announced yet.
   */
  announced: string[];
}

/** The identity of a source file for resuming: its real path, size and mtime, hashed. */
export async function sourceId(path: string): Promise<string> {
  const real = await realpath(path);
  const st = await stat(real);
  return createHash('sha256').update(`${real}\0${st.size}\0${st.mtimeMs}`).digest('hex');
}

export class UploadStates {
  private readonly dir: string;

  constructor(
    home: string,
    private readonly historyKey: Uint8Array,
  ) {
    this.dir = join(home, 'transfers');
  }

  /** The unfinished upload of `source` to `to` through `relay`, if one is recorded. */
  async find(relay: string, to: Uint8Array, source: string): Promise<UploadState | undefined> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return undefined;
    }
    for (const n of names) {
      if (!/^up-[0-9a-f]{32}\.json$/.test(n)) continue;
      const file = join(this.dir, n);
      try {
        const o = JSON.parse(await readFile(file, 'utf8')) as unknown;
        if (!isObj(o) || o.v !== 1 || o.relay !== relay || o.to !== toB64(to) || o.source !== source) continue;
        if (typeof o.blob !== 'string' || !BLOB_ID_RE.test(o.blob) || typeof o.key !== 'string') continue;
        const key = openUploadKey(this.historyKey, fromB64(o.key));
        const announced = Array.isArray(o.announced) && o.announced.every((x) => typeof x === 'string' && /^[0-9a-f]{32,64}$/.test(x)) ? (o.announced as string[]) : [];
        if (key) return { blob: o.blob, key, file, announced };
      } catch {
        // unreadable or damaged: not resumable, ignored
      }
    }
    return undefined;
  }

  async save(relay: string, to: Uint8Array, source: string, size: number, blob: string, key: Uint8Array): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `up-${blob}.json`);
    const o = { v: 1, blob, relay, to: toB64(to), source, size, key: toB64(sealUploadKey(this.historyKey, key, randomBytes)), created: Date.now() };
    await atomicWriteFile(file, JSON.stringify(o) + '\n');
    return file;
  }

  /** Records the ids of the file messages queued for the upload in `file` (`"announced":[HEX, ...]`). */
  async markAnnounced(file: string, ids: string[]): Promise<void> {
    const o = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await atomicWriteFile(file, JSON.stringify({ ...o, announced: ids }) + '\n');
  }

  async remove(file: string): Promise<void> {
    await unlink(file).catch(() => undefined);
  }
}
