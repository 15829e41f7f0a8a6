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
import * as path from 'node:path';

export interface DaemonPaths {
  dir: string;
  socket: string;
  pid: string;
  cursor: string;
}

/** The longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

export function daemonPaths(home: string): DaemonPaths {
  const dir = path.join(path.resolve(home), 'daemon');
  return { dir, socket: path.join(dir, 'hush.sock'), pid: path.join(dir, 'daemon.pid'), cursor: path.join(dir, 'cursor') };
}

/** Why `p` is not a safe daemon place (undefined: safe). Missing pieces are "missing". */
export function unsafeReason(p: DaemonPaths): 'missing' | string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  let dir: import('node:fs').Stats;
  try {
    dir = lstatSync(p.dir);
  } catch {
    return 'missing';
  }
  if (!dir.isDirectory()) return `${p.dir} is not a directory`;
  if (uid !== undefined && dir.uid !== uid) return `${p.dir} belongs to another user (uid ${dir.uid})`;
  if ((dir.mode & 0o077) !== 0) return `${p.dir} is accessible by other users (mode ${(dir.mode & 0o777).toString(8)}, must be 700)`;
  let sock: import('node:fs').Stats;
  try {
    sock = lstatSync(p.socket);
  } catch {
    return 'missing';
  }
  if (!sock.isSocket()) return `${p.socket} is not a socket`;
  if (uid !== undefined && sock.uid !== uid) return `${p.socket} belongs to another user (uid ${sock.uid})`;
  if ((sock.mode & 0o077) !== 0) return `${p.socket} is accessible by other users (mode ${(sock.mode & 0o777).toString(8)}, must be 600)`;
  return undefined;
}
