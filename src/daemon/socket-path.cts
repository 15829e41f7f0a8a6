/**
 * Where a home's daemon lives and whether that place is safe to use, for both sides: the
 * daemon (./server.ts) and the CLI's connector (./connector.ts) and fast path
 * (src/cli/fast-path.cts). CommonJS (.cts) so that the fast path, which loads no ESM module,
 * can require it; light: node:fs and node:path only, so a command that finds no daemon pays
 * almost nothing.
 *
 *   <home>/daemon/            mode 0700, owned by the user (refused otherwise)
 *   <home>/daemon/hush.sock   the Unix socket, mode 0600
 *   <home>/daemon/daemon.pid  the daemon's pid (one daemon per home; not a secret)
 *   <home>/daemon/cursor      the newest history row a `pull` through the daemon showed
 *
 * Node cannot read a Unix socket peer's uid (SO_PEERCRED) without a native addon, so the
 * socket's safety rests on these modes: only the user (and root) can reach the socket
 * (docs/SECURITY.md, "The daemon").
 */
import { lstatSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface DaemonPaths {
  dir: string;
  socket: string;
  pid: string;
  cursor: string;
}

/** The longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

export function daemonPaths(home: string): DaemonPaths {
  const dir = join(resolve(home), 'daemon');
  return { dir, socket: join(dir, 'hush.sock'), pid: join(dir, 'daemon.pid'), cursor: join(dir, 'cursor') };
}

/** Why `p` is not a safe daemon place (undefined: safe). Missing pieces are "missing". */
export function unsafeReason(p: DaemonPaths): 'missing' | string | undefined {
  return placeReason(p.dir, 'directory', (st) => st.isDirectory(), 0o700) ?? placeReason(p.socket, 'socket', (st) => st.isSocket(), 0o600);
}

/** Why `file` is not ours alone as a `kind` (undefined: it is), 'missing' when it is not there. */
function placeReason(file: string, kind: string, isKind: (st: import('node:fs').Stats) => boolean, mode: number): 'missing' | string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  let st: import('node:fs').Stats;
  try {
    st = lstatSync(file);
  } catch {
    return 'missing';
  }
  if (!isKind(st)) return `${file} is not a ${kind}`;
  if (uid !== undefined && st.uid !== uid) return `${file} belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o077) !== 0) return `${file} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}, must be ${mode.toString(8)})`;
  return undefined;
}
