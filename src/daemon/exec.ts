/**
 * Runs a hush CLI command inside the daemon, for a client: the same command file
 * (src/cli/commands/*.ts) with the same error boundary, so the output, the exit code and the
 * --json lines are those of the direct path. What differs is only where things come from:
 *
 * - the keyring is not unlocked: `ctx.backend` hands the command a copy of the identity the
 *   daemon holds (src/cli/common.ts unlockHome);
 * - stdout and stderr are the client's, streamed back as `cli.output` notifications;
 * - stdin is the client's, streamed in as `cli.stdin` notifications (send);
 * - `pull` shows what arrived since the last `pull` through this daemon (the daemon's own
 *   listen stores mail as it comes: docs/RPC.md, "cli.run").
 */
import { Readable } from 'node:stream';
import type { CommandArgs, CommandContext, CommandOpts, DaemonBackend, GlobalOptions } from '../cli/commands/index.js';
import { COMMANDS } from '../cli/commands/index.js';
import { createOutput } from '../cli/output.js';
import { reportError } from '../cli/run.js';
import { CLIENT_ENV_KEYS, DAEMON_COMMANDS } from './rpc.js';

export { CLIENT_ENV_KEYS, DAEMON_COMMANDS };

export interface ExecTerminal {
  stdoutTTY: boolean;
  stderrTTY: boolean;
  stdinTTY: boolean;
  /** Colour depth of each stream (bits: 1, 4, 8, 24) when it is a terminal. */
  stdoutDepth: number;
  stderrDepth: number;
}

export interface ExecRequest {
  command: string;
  args: CommandArgs;
  opts: CommandOpts;
  global: Pick<GlobalOptions, 'json' | 'color' | 'relay' | 'relayTimeout' | 'tokenLifetime'>;
  env: Partial<Record<(typeof CLIENT_ENV_KEYS)[number], string>>;
  terminal: ExecTerminal;
  stdin?: Readable;
}

export type Write = (stream: 'stdout' | 'stderr', text: string) => void;

/**
 * The daemon's environment without the client's keys, copied once: spreading process.env
 * calls into C++ for every variable (~0.2 ms a request under load, 5% of a JSON-RPC send).
 */
const baseEnvs = new WeakMap<NodeJS.ProcessEnv, NodeJS.ProcessEnv>();

/** The daemon's environment as a plain object without the client's keys (copied once per object). */
export function baseEnv(daemonEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let base = baseEnvs.get(daemonEnv);
  if (!base) {
    base = { ...daemonEnv };
    for (const k of CLIENT_ENV_KEYS) delete base[k];
    baseEnvs.set(daemonEnv, base);
  }
  return base;
}

function fakeStream(tty: boolean, depth: number, write: (s: string) => void): NodeJS.WriteStream {
  return {
    isTTY: tty,
    getColorDepth: () => depth,
    write: (s: string | Uint8Array) => {
      write(typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
      return true;
    },
  } as unknown as NodeJS.WriteStream;
}

/** The commands the structured RPC methods run (./methods.ts), with --json. */
const STRUCTURED_COMMANDS: ReadonlySet<string> = new Set([...DAEMON_COMMANDS, 'trust', 'whoami', 'group', 'files', 'save']);

export interface ExecResult {
  exitCode: number;
  /** What the command threw (already printed on its stderr), when it failed. */
  error?: unknown;
}

/**
 * Runs the command; resolves with its exit code (errors are printed as the CLI prints them).
 * `structured`: a method of ./methods.ts runs it (a few more commands allowed).
 */
export async function execCommand(home: string, daemonEnv: NodeJS.ProcessEnv, backend: DaemonBackend, req: ExecRequest, write: Write, structured = false): Promise<ExecResult> {
  const env: NodeJS.ProcessEnv = { ...baseEnv(daemonEnv) };
  for (const k of CLIENT_ENV_KEYS) if (typeof req.env[k] === 'string') env[k] = req.env[k];
  const t = req.terminal;
  const out = createOutput({
    json: req.global.json,
    color: req.global.color,
    env,
    stdout: fakeStream(t.stdoutTTY, t.stdoutDepth, (s) => write('stdout', s)),
    stderr: fakeStream(t.stderrTTY, t.stderrDepth, (s) => write('stderr', s)),
  });
  const spec = COMMANDS.find((c) => c.name === req.command);
  const stdin = (req.stdin ?? Readable.from([])) as Readable & { isTTY?: boolean };
  stdin.isTTY = t.stdinTTY;
  const global: GlobalOptions = { ...req.global, home };
  const ctx: CommandContext = { global, out, env, stdin, backend, stderrTTY: t.stderrTTY };
  try {
    if (!spec || !(structured ? STRUCTURED_COMMANDS : DAEMON_COMMANDS).has(req.command)) throw new Error(`the daemon does not run ${req.command}`);
    await (await spec.load()).run(ctx, req.args, req.opts);
    return { exitCode: 0 };
  } catch (e) {
    return { exitCode: reportError(out, e, env), error: e };
  }
}
