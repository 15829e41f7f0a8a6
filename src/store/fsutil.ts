/**
 * File writes for everything hush keeps on disk (docs/SECURITY.md "Local files"): a temp file
 * in the same directory, written, fsynced, closed, renamed over the target, then the directory
 * fsynced.
 * A crash at any point leaves either the old file or the new one, never a mix; the temp file
 * is removed when anything fails.
 */
import { constants as fsc, promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { DataError, InternalError, isHushError, UsageError, type HushError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import { randomBytes } from '../crypto/nacl.js';

/** Errno codes in words (what `strerror` would say, in hush's voice). */
const WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'it already exists and is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EBADF: 'the file descriptor is not open',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'the disk quota is exceeded',
  EFBIG: 'the file is too large',
  EIO: 'an input/output error (a failing disk?)',
  EBUSY: 'the file is busy',
};

/** What an fs error code means, in words ("permission denied"), never a raw "eacces". */
export function errnoWords(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code !== undefined && WORDS[code] !== undefined) return WORDS[code];
  if (typeof e?.errno === 'number') {
    const known = getSystemErrorMap().get(e.errno);
    if (known) return known[1];
  }
  return code !== undefined ? `system error ${code}` : err instanceof Error ? err.message : String(err);
}

/** The deepest existing ancestor of `p` (p itself included) that is not a directory, if any. */
function fileInTheWay(p: string): string | undefined {
  for (let cur = path.resolve(p); ; cur = path.dirname(cur)) {
    try {
      return statSync(cur).isDirectory() ? undefined : cur;
    } catch {
      // missing or unreadable: look further up
    }
    if (path.dirname(cur) === cur) return undefined;
  }
}

/**
 * Maps an fs error to a HushError: a file where a directory should be, permission problems and
 * a read-only file system are UsageError NOT_A_DIRECTORY / NOT_WRITABLE / NOT_READABLE (exit 2:
 * the user must fix the path), a full disk is InternalError DISK_FULL, anything else
 * InternalError IO_ERROR. Messages say what happened in words. Non-fs errors pass through.
 */
export function fsError(err: unknown, action: 'read' | 'write', file: string): HushError | Error {
  if (isHushError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err : new Error(String(err));
  const dir = path.dirname(file);
  const words = errnoWords(err);
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    const inTheWay = fileInTheWay(file);
    if (inTheWay !== undefined) {
      const what = inTheWay === file ? `${file} is a file, not a directory` : `cannot ${action} ${file}: ${inTheWay} is a file, not a directory`;
      return new UsageError('NOT_A_DIRECTORY', what, {
        hint: `point --home / HUSH_HOME at a directory (or a path that does not exist yet), or move ${inTheWay} away`,
        cause: err,
      });
    }
  }
  switch (code) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EEXIST':
    case 'ELOOP':
    case 'ENAMETOOLONG':
      if (action === 'read') return new UsageError('NOT_READABLE', `cannot read ${file}: ${words}`, { hint: `check the owner and mode of ${file} (ls -l ${file})`, cause: err });
      return new UsageError('NOT_WRITABLE', `cannot write ${file}: ${words}`, {
        hint: code === 'EROFS' ? 'choose a --home on a writable file system' : `make ${dir} a directory you can write to (ls -ld ${dir}), or choose another --home`,
        cause: err,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new InternalError('DISK_FULL', `cannot write ${file}: ${words}`, { hint: 'free some space and try again', cause: err });
    default:
      return new InternalError('IO_ERROR', `cannot ${action} ${file}: ${words}`, { cause: err });
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

/** Is the process `pid` still running? (signal 0 checks without signalling) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // running, but not ours
  }
}

/**
 * Removes the temp files of `base` that a writer killed mid-write left behind
 * (`.BASE.PID.HEX.tmp` of a process that no longer runs). A live writer's temp file is left
 * alone. Best effort: a failure here never stops the write.
 */
async function sweepStaleTemps(dir: string, base: string): Promise<void> {
  const prefix = `.${base}.`;
  try {
    for (const name of await fsp.readdir(dir)) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
      if (!m || alive(Number(m[1]))) continue;
      await fsp.rm(path.join(dir, name), { force: true });
    }
  } catch {
    // a directory we cannot list: the write itself reports what is wrong
  }
}

/**
 * Atomically replaces `file` with `data` (mode `mode`, default 0600). Throws a HushError
 * (see fsError) on failure, leaving the previous file untouched.
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  await sweepStaleTemps(dir, path.basename(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${toHex(randomBytes(8))}.tmp`);
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
