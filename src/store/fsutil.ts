/**
 * File writes for everything hush keeps on disk (docs/SECURITY.md "Local files"): a temp file
 * in the same directory, written, fsynced, closed, renamed over the target, then the directory
 * fsynced.
 * A crash at any point leaves either the old file or the new one, never a mix; the temp file
 * is removed when anything fails.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { DataError, InternalError, isHushError, UsageError, type HushError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import { randomBytes } from '../crypto/nacl.js';

/**
 * Maps an fs error to a HushError: permission problems and a missing/invalid parent are
 * UsageError NOT_WRITABLE / NOT_READABLE (the user must fix the path), a full disk is
 * InternalError DISK_FULL, anything else InternalError IO_ERROR. Non-fs errors pass through.
 */
export function fsError(err: unknown, action: 'read' | 'write', file: string): HushError | Error {
  if (isHushError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err : new Error(String(err));
  const dir = path.dirname(file);
  switch (code) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ENOTDIR':
    case 'EISDIR':
      return action === 'write'
        ? new UsageError('NOT_WRITABLE', `cannot write ${file}: ${code.toLowerCase()}`, { hint: `check that ${dir} is a writable directory, or choose another --home`, cause: err })
        : new UsageError('NOT_READABLE', `cannot read ${file}: ${code.toLowerCase()}`, { hint: `check the permissions of ${file}`, cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new InternalError('DISK_FULL', `cannot write ${file}: the disk is full`, { hint: 'free some space and try again', cause: err });
    default:
      return new InternalError('IO_ERROR', `cannot ${action} ${file}: ${code.toLowerCase()}`, { cause: err });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, fsc.O_RDONLY);
    await fh.sync();
  } catch (err) {
    // Some platforms (Windows) and file systems cannot fsync a directory; the rename is done.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Atomically replaces `file` with `data` (mode `mode`, default 0600). Throws a HushError
 * (see fsError) on failure, leaving the previous file untouched.
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${toHex(randomBytes(8))}.tmp`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed or widened nothing; be exact
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
    await fsyncDir(dir);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(err, 'write', file);
  }
}

/** Reads a UTF-8 text file; undefined when it does not exist; other failures as fsError. */
export async function readTextIfExists(file: string, maxBytes = 1024 * 1024): Promise<string | undefined> {
  try {
    const st = await fsp.stat(file);
    if (st.size > maxBytes) throw new DataError('TOO_LARGE', `${file} is larger than ${maxBytes} bytes`);
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, 'read', file);
  }
}
