/**
 * Where hush keeps its files. The home is `--home`, else HUSH_HOME, else the env-paths data
 * directory for "hush" (~/.local/share/hush on Linux, ~/Library/Application Support/hush on
 * macOS, %LOCALAPPDATA%\hush\Data on Windows). It is created mode 0700.
 *
 *   keyring.json   the password-wrapped identity (src/store/keyring-store.ts), mode 0600
 *   config.json    settings (src/store/config.ts), mode 0600
 *   hush.db        contacts and encrypted history (src/store/db.ts), mode 0600
 *
 * Permissions (POSIX only): a keyring.json readable or writable by group or others is refused
 * (UsageError KEYRING_PERMISSIONS, exit 2: the user fixes it with chmod, as with ssh keys);
 * a home directory that is not 0700 only earns a warning.
 */
import { accessSync, constants as fsc, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import envPaths from 'env-paths';
import { UsageError } from '../errors.js';
import { errnoWords, fsError } from './fsutil.js';

export interface HushPaths {
  home: string;
  keyring: string;
  config: string;
  db: string;
}

const posix = process.platform !== 'win32';

/** The home directory (absolute), from `flag` (--home), else env.HUSH_HOME, else env-paths. */
export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? (env.HUSH_HOME !== undefined && env.HUSH_HOME !== '' ? env.HUSH_HOME : undefined);
  return path.resolve(chosen ?? envPaths('hush', { suffix: '' }).data);
}

export function hushPaths(home: string): HushPaths {
  return {
    home,
    keyring: path.join(home, 'keyring.json'),
    config: path.join(home, 'config.json'),
    db: path.join(home, 'hush.db'),
  };
}

/**
 * Creates the home (and parents) mode 0700 when missing. Returns the paths and warnings for
 * the CLI to print (e.g. the home is group/other accessible); never prints.
 */
export async function ensureHome(home: string): Promise<{ paths: HushPaths; warnings: string[] }> {
  try {
    await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw notADirectory(home);
    throw fsError(err, 'write', home);
  }
  return { paths: hushPaths(home), warnings: await homeWarnings(home) };
}

function notADirectory(home: string): UsageError {
  return new UsageError('NOT_A_DIRECTORY', `the hush home ${home} is a file, not a directory`, {
    hint: 'point --home / HUSH_HOME at a directory (or a path that does not exist yet)',
  });
}

/**
 * Warnings about the home directory's mode (empty when fine or missing, or on Windows).
 * UsageError NOT_A_DIRECTORY when the home exists and is not a directory.
 */
export async function homeWarnings(home: string): Promise<string[]> {
  let st: import('node:fs').Stats;
  try {
    st = await fsp.stat(home);
  } catch {
    return []; // missing: nothing to warn about (unreadable: the read that follows says so)
  }
  if (!st.isDirectory()) throw notADirectory(home);
  if (!posix) return [];
  {
    if ((st.mode & 0o077) !== 0) {
      return [`${home} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 700 ${home}`];
    }
  }
  return [];
}

/**
 * Refuses (UsageError HOME_READ_ONLY, exit 2) a home whose store hush cannot write: the home
 * directory itself, or an existing hush.db / -wal / -shm. The store is SQLite in WAL mode: even
 * reading it needs the -shm file, and history, contacts and verify record read marks and
 * receipts, so hush does not open a store it cannot write. Commands that need no store
 * (whoami, unlock) work on a read-only home.
 */
export function assertStoreWritable(paths: HushPaths): void {
  for (const f of [paths.home, paths.db, `${paths.db}-wal`, `${paths.db}-shm`]) {
    try {
      accessSync(f, fsc.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && f !== paths.home) continue;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw fsError(err, 'write', f);
      throw new UsageError('HOME_READ_ONLY', `cannot write ${f}: ${errnoWords(err)}; hush keeps its history there and must write to it`, {
        hint: code === 'EROFS' ? `copy ${paths.home} to a writable disk and use --home there` : `make it writable by you (chmod u+w ${f}), or run hush as the user who owns it`,
        cause: err,
      });
    }
  }
}

/** Refuses a keyring file that group or others can read or write. */
export async function checkKeyringMode(file: string): Promise<void> {
  if (!posix) return;
  let mode: number;
  try {
    mode = (await fsp.stat(file)).mode;
  } catch (err) {
    throw fsError(err, 'read', file);
  }
  if ((mode & 0o066) !== 0) {
    throw new UsageError('KEYRING_PERMISSIONS', `${file} is accessible by other users (mode ${(mode & 0o777).toString(8)})`, {
      hint: `chmod 600 ${file}`,
    });
  }
}
