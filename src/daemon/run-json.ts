/**
 * How a structured method of `hush daemon` runs a CLI command: with --json, no terminal, the
 * client's relay settings, and its JSON lines returned (./methods.ts, ./group-file-methods.ts).
 */
import { Readable } from 'node:stream';
import { CLIENT_ENV_KEYS, execCommand, type ExecRequest, type ExecTerminal } from './exec.js';
import { RpcCode, RpcError, type RpcId } from './rpc.js';
import type { Conn, Daemon } from './server.js';

export interface Call {
  daemon: Daemon;
  conn: Conn;
  params: Record<string, unknown>;
  id: RpcId;
}

export type Method = (call: Call) => Promise<unknown>;

const NO_TTY: ExecTerminal = { stdoutTTY: false, stderrTTY: false, stdinTTY: false, stdoutDepth: 1, stderrDepth: 1 };

export function invalid(message: string): RpcError {
  return new RpcError(RpcCode.invalidParams, `invalid params: ${message}`);
}

/** Runs a command with --json for a structured method; its JSON lines, or its error thrown. */
export async function runJson(d: Daemon, command: string, args: ExecRequest['args'], opts: ExecRequest['opts'], input?: string): Promise<Record<string, unknown>[]> {
  let stdout = '';
  const g = d.o.ctx.global;
  const env = clientEnv(d.o.ctx.env);
  const exec = (): ReturnType<typeof execCommand> =>
    execCommand(
      d.o.home,
      d.o.ctx.env,
      d.backend,
      {
        command,
        args,
        opts,
        global: { json: true, color: false, relay: g.relay, relayTimeout: g.relayTimeout, tokenLifetime: g.tokenLifetime },
        env,
        terminal: NO_TTY,
        ...(input === undefined ? {} : { stdin: Readable.from([Buffer.from(input, 'utf8')]) }),
      },
      (stream, text) => {
        if (stream === 'stdout') stdout += text;
      },
      true,
    );
  const r = command === 'pull' ? await d.serialPull(exec) : await exec();
  if (r.exitCode !== 0) throw r.error ?? new Error(`${command} failed`);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export const byEvent = (lines: Record<string, unknown>[], event: string): Record<string, unknown>[] => lines.filter((l) => l.event === event);

const clientEnvs = new WeakMap<NodeJS.ProcessEnv, Partial<Record<(typeof CLIENT_ENV_KEYS)[number], string>>>();

/** The daemon's own values of the client keys, for its structured methods (read once: process.env reads are slow). */
function clientEnv(env: NodeJS.ProcessEnv): Partial<Record<(typeof CLIENT_ENV_KEYS)[number], string>> {
  let e = clientEnvs.get(env);
  if (!e) {
    e = {};
    for (const k of CLIENT_ENV_KEYS) if (typeof env[k] === 'string') e[k] = env[k];
    clientEnvs.set(env, e);
  }
  return e;
}
