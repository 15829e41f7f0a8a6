/**
 * `hush daemon [--idle-lock DURATION] [--max-request-bytes N]`: unlocks the keyring once (the
 * usual passphrase sources, the OS keychain included), then stays in the foreground holding
 * the identity, listening on the relay, and serving JSON-RPC 2.0 on <home>/daemon/hush.sock
 * (src/daemon/, docs/RPC.md). `send`, `pull`, `history`, `contacts` and `verify` of this home
 * then go through it by themselves.
 *
 * stdout: one line once the socket accepts requests (human `hush daemon ready: SOCKET`, or
 * --json {"event":"ready","socket","pid","name","home","idleLockMs"}); stderr: its log.
 * Stops on SIGTERM / SIGINT (flushes the outbox, exit 0), on `hush lock`, or after
 * --idle-lock without a request (default 8h; 0 never).
 */
import { type ErrorKind, HushError, UsageError } from '../../errors.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { wipe } from '../../crypto/nacl.js';
import { homePaths, unlockHome } from '../common.js';
import { requireRelay } from '../messaging.js';
import { DEFAULT_MAX_LINE_BYTES } from '../../daemon/rpc.js';
import { canConnect, Daemon } from '../../daemon/server.js';
import { daemonPaths } from '../../daemon/socket-path.cjs';
import type { CommandRun } from './index.js';

export const DEFAULT_IDLE_LOCK = '8h';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `8h`, `30m`, `90s`, `2d`, `0` (never); a bare number is seconds. At most 365d. */
export function parseIdleLock(raw: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  if (!(ms >= 0 && ms <= 365 * 86_400_000)) {
    throw new UsageError('BAD_IDLE_LOCK', `the idle lock must be a duration such as 8h, 30m or 0 (never), not '${raw.slice(0, 40)}'`, { hint: 'e.g. --idle-lock 8h' });
  }
  return ms;
}

function parseBytes(raw: string): number {
  const m = /^(\d{1,10})(k|m)?$/i.exec(raw.trim());
  const n = m ? Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1024 : m[2]?.toLowerCase() === 'm' ? 1024 * 1024 : 1) : NaN;
  if (!(n >= 1024 && n <= 64 * 1024 * 1024)) {
    throw new UsageError('BAD_MAX_REQUEST', `--max-request-bytes must be from 1k to 64m, not '${raw.slice(0, 40)}'`, { hint: 'e.g. --max-request-bytes 1m (the default)' });
  }
  return n;
}

/**
 * --detach: the same daemon in the background. It must find the passphrase itself (the
 * environment, --passphrase-file or the OS keychain: nothing is handed over); its log goes to
 * <home>/daemon/daemon.log (0600). This process waits for its ready line, prints it, exits 0;
 * a daemon that fails to start: its error and exit code.
 */
async function detach(ctx: Parameters<CommandRun>[0], home: string): Promise<void> {
  if (ctx.global.passphraseFd !== undefined) {
    throw new UsageError('DETACH_FD', '--detach cannot pass --passphrase-fd on to the background daemon', {
      hint: 'use --passphrase-file, HUSH_PASSPHRASE or hush unlock --remember, or run hush daemon in the foreground',
    });
  }
  const [{ spawn }, fs, path] = await Promise.all([import('node:child_process'), import('node:fs'), import('node:path')]);
  const where = daemonPaths(home);
  fs.mkdirSync(where.dir, { recursive: true, mode: 0o700 });
  const logFile = path.join(where.dir, 'daemon.log');
  const log = fs.openSync(logFile, 'a', 0o600);
  const argv = process.argv.slice(1).filter((a) => a !== '--detach');
  if (!argv.includes('--json')) argv.push('--json');
  const child = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', 'pipe', log], env: { ...ctx.env, HUSH_HOME: home } });
  fs.closeSync(log);
  const line = await new Promise<string | number>((resolve) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => resolve(code ?? 1));
  });
  if (typeof line === 'number') {
    // Its error as it printed it (the last error and hint lines of the log), with its exit code.
    const lines = fs.readFileSync(logFile, 'utf8').split('\n');
    const last = (prefix: string): string | undefined =>
      lines
        .filter((l) => l.startsWith(prefix))
        .pop()
        ?.slice(prefix.length);
    const kinds: Record<number, ErrorKind> = { 2: 'usage', 3: 'passphrase', 4: 'relay', 5: 'trust', 6: 'data' };
    throw new HushError(kinds[line] ?? 'internal', 'DETACH_FAILED', `the background daemon did not start: ${last('hush: error: ') ?? `exit ${line}`}`, {
      hint: last('hush: hint: ') ?? `see ${logFile}`,
    });
  }
  child.stdout!.destroy();
  child.unref();
  const ready = JSON.parse(line) as Record<string, unknown>;
  ctx.out.data({ ...ready, log: logFile }, `hush daemon ready: ${String(ready.socket)} (pid ${String(ready.pid)}, log ${logFile})`);
}

export const run: CommandRun = async (ctx, _args, opts) => {
  const idleLockMs = parseIdleLock(typeof opts.idleLock === 'string' ? opts.idleLock : DEFAULT_IDLE_LOCK);
  const maxLineBytes = typeof opts.maxRequestBytes === 'string' ? parseBytes(opts.maxRequestBytes) : DEFAULT_MAX_LINE_BYTES;
  const paths = await homePaths(ctx);
  await requireRelay(ctx, paths); // no relay: a usage error before any passphrase
  const where = daemonPaths(paths.home);
  if (await canConnect(where.socket)) {
    throw new UsageError('DAEMON_RUNNING', `a hush daemon already runs for ${paths.home}`, { hint: 'use it (commands find it by themselves), or stop it first with hush lock' });
  }
  if (opts.detach === true) return detach(ctx, paths.home);
  const { unlocked } = await unlockHome(ctx, paths);
  const d = new Daemon({ home: paths.home, unlocked, ctx, idleLockMs, maxLineBytes, log: (l) => ctx.out.info(l) });
  try {
    await d.start();
  } catch (e) {
    wipeIdentity(unlocked.identity);
    wipe(unlocked.dataKey, unlocked.wrappingKey);
    throw e;
  }
  const stop = (signal: string) => (): void => void d.stop(signal);
  const onTerm = stop('SIGTERM');
  const onInt = stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  ctx.out.data({ event: 'ready', socket: where.socket, pid: process.pid, name: unlocked.file.name, home: paths.home, idleLockMs }, `hush daemon ready: ${where.socket}`);
  ctx.out.info(
    `hush: daemon of ${unlocked.file.name} (pid ${process.pid}); idle lock ${idleLockMs === 0 ? 'off' : (opts.idleLock ?? DEFAULT_IDLE_LOCK)}; stop it with hush lock or SIGTERM`,
  );
  try {
    await d.whenStopped();
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
};
