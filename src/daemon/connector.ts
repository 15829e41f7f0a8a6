/**
 * The CLI's side of `hush daemon`: when a daemon runs for this home, `send` (not `--file`),
 * `pull`, `history`, `contacts`, `verify`, `group` and `files` are handed to it (cli.run, docs/RPC.md) instead of unlocking the
 * keyring here: no passphrase, no Argon2, no new relay connection in this process. The
 * daemon runs the same command file; this side only copies its stdout and stderr through and
 * exits with its exit code, so output, exit codes and --json are the same either way.
 *
 * No daemon (no socket, or a stale one nobody answers on, e.g. after kill -9): `undefined`,
 * and the command runs directly. A daemon place that is not safe (another owner, a mode
 * other users can reach): a warning, and the direct path: hush never hands a message to a
 * socket it cannot trust.
 *
 * Light on purpose: node:net and this folder's format modules only.
 */
import * as net from 'node:net';
import { CLIENT_ENV_KEYS, encode, exitCodeOf } from './rpc.js';
import { readCliLines, terminalOf } from './cli-wire.cjs';
import { daemonPaths, unsafeReason } from './socket-path.cjs';

export interface DaemonCall {
  home: string;
  command: string;
  args: Record<string, unknown>;
  opts: Record<string, unknown>;
  global: { json: boolean; color: boolean; relay?: string | undefined; relayTimeout?: string | undefined; tokenLifetime?: string | undefined };
  env: NodeJS.ProcessEnv;
  /** The command reads stdin (send without text arguments): it is streamed to the daemon. */
  stdin: boolean;
  /** `hush: warning: …` on stderr. */
  warn: (message: string) => void;
  /** `hush: error: …` and the hint on stderr. */
  error: (message: string, hint?: string) => void;
  /**
   * 'undefined': a request the daemon refuses (an error answer: nothing was run) resolves
   * undefined, for the caller to run the command itself (src/cli/fast-path.ts). Default: the
   * error is printed and its exit code returned.
   */
  refused?: 'print' | 'undefined';
}

/** Connects to the home's daemon, or undefined when none answers. */
export function connectDaemon(home: string, warn?: (m: string) => void): Promise<net.Socket | undefined> {
  const p = daemonPaths(home);
  const why = unsafeReason(p);
  if (why === 'missing') return Promise.resolve(undefined);
  if (why !== undefined) {
    warn?.(`not using the hush daemon of this home: ${why}`);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const s = net.connect(p.socket);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined)); // ECONNREFUSED: a stale socket (kill -9)
  });
}

/** Runs the command through the daemon; its exit code, or undefined: run it directly. */
export async function runViaDaemon(c: DaemonCall): Promise<number | undefined> {
  const socket = await connectDaemon(c.home, c.warn);
  if (!socket) return undefined;
  const env: Record<string, string> = {};
  for (const k of CLIENT_ENV_KEYS) if (typeof c.env[k] === 'string') env[k] = c.env[k];
  const id = 1;
  socket.write(
    encode({
      jsonrpc: '2.0',
      id,
      method: 'cli.run',
      params: {
        command: c.command,
        args: c.args,
        opts: c.opts,
        global: c.global,
        env,
        terminal: terminalOf(),
        stdin: c.stdin,
      },
    }),
  );
  if (c.stdin) {
    process.stdin.on('data', (chunk: Buffer) => {
      if (!socket.destroyed) socket.write(encode({ jsonrpc: '2.0', method: 'cli.stdin', params: { request: id, data: chunk.toString('base64') } }));
    });
    process.stdin.once('end', () => {
      if (!socket.destroyed) socket.write(encode({ jsonrpc: '2.0', method: 'cli.stdin', params: { request: id, end: true } }));
    });
  }
  return new Promise<number | undefined>((resolve) => {
    let done = false;
    const finish = (code: number | undefined): void => {
      if (done) return;
      done = true;
      if (c.stdin) process.stdin.destroy(); // nothing more to read: let the process end
      socket.end();
      resolve(code);
    };
    readCliLines(socket, id, (msg) => {
      if (msg.error && c.refused === 'undefined') finish(undefined);
      else if (msg.error) {
        c.error(msg.error.message, msg.error.data?.hint);
        finish(exitCodeOf(msg.error.code));
      } else {
        const code = msg.result?.exitCode;
        finish(typeof code === 'number' ? code : 1);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (done) return;
      c.error('the hush daemon went away before the command finished', `check hush history for what was done, then run the command again (--no-daemon runs it without the daemon)`);
      finish(4);
    });
  });
}

/**
 * Asks the home's daemon to stop (`hush lock`) and waits until it has: the outbox flushed,
 * the identity wiped, the socket gone. 'none' when no daemon answers.
 */
export async function stopDaemon(home: string, timeoutMs = 30_000): Promise<'stopped' | 'none'> {
  const socket = await connectDaemon(home);
  if (!socket) return 'none';
  const { existsSync } = await import('node:fs');
  await new Promise<void>((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    socket.resume(); // the answer is not needed; reading lets 'close' come
    socket.write(encode({ jsonrpc: '2.0', id: 1, method: 'daemon.stop', params: {} }));
  });
  const sock = daemonPaths(home).socket;
  for (const end = Date.now() + timeoutMs; existsSync(sock) && Date.now() < end;) await new Promise((r) => setTimeout(r, 25));
  return 'stopped';
}
