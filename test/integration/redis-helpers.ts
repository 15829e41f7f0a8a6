/**
 * A real `redis-server` for the shared-store tests: on a free port of 127.0.0.1, in a temp
 * directory, with an append-only file fsynced on every write (appendfsync always) and no RDB
 * snapshots, killed (and its directory removed) by stop(). restart() kills it with SIGKILL and
 * starts it again on the same port and directory: what it still holds came from the AOF.
 *
 * Outside CI a machine without redis-server skips these tests; in CI they fail (test/needs.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpDir } from './helpers.js';

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/opt/homebrew/bin/redis-server'];

/** The redis-server binary, or undefined. */
export function redisServerPath(): string | undefined {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Why the Redis tests cannot run here, or undefined (for skipWithout). */
export function whyNoRedis(): string | undefined {
  return redisServerPath() ? undefined : 'redis-server is not installed (apt-get install redis-server)';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisProc {
  /** redis://127.0.0.1:PORT/0 */
  url: string;
  port: number;
  dir: string;
  /** SIGKILL, then the same server again on the same port and AOF. */
  restart(): Promise<void>;
  /** SIGKILL; resolves once it exited. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Every redis-server started here and still running: killed when the test process exits, whatever failed. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startRedis(opts: { appendonly?: 'yes' | 'no'; appendfsync?: 'always' | 'everysec' } = {}): Promise<RedisProc> {
  const bin = redisServerPath();
  if (!bin) throw new Error('redis-server is not installed');
  const dir = tmpDir('hush-redis-');
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    opts.appendonly ?? 'yes',
    '--appendfsync',
    opts.appendfsync ?? 'always',
    '--save',
    '',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    '--loglevel',
    'notice', // "Ready to accept connections" is a notice
    '--logfile',
    '',
  ];
  const start = async (): Promise<void> => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    live.add(p);
    p.once('exit', () => live.delete(p));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (/Ready to accept connections/.test(out)) resolve();
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
    });
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: kill,
  };
}
