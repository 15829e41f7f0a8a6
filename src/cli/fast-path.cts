/**
 * The CLI's fast path to a running `hush daemon` (bin/hush.js calls it before anything else):
 * for a command the daemon runs (`send NAME TEXT…`, `pull`, `history`, `contacts`, `verify`,
 * `group`, `files`), when the home's daemon socket is there, it reads argv itself, hands the
 * same cli.run request main.ts would hand over (src/daemon/connector.ts) and copies the
 * daemon's answer through, before commander, chalk or any of the CLI's ESM modules load.
 *
 * It only takes what it reads exactly as commander would: the generated table of the daemon
 * commands' arguments and options and of the global options (./fast-table.cts), `--opt value`
 * and `--opt=value`. Anything else returns undefined and the normal CLI runs (and may still
 * hand the command to the daemon): no socket, --no-daemon / HUSH_NO_DAEMON=1, help or version,
 * an unknown or short option, `--`, an option that takes a parser (--file, --passphrase-fd), a
 * missing or extra argument, a `send` that reads stdin, an unsafe daemon place (the normal CLI
 * warns), a daemon that does not answer (a stale socket), and a daemon that refuses the request
 * (nothing was run then). Nothing is read from stdin before that decision, so nothing is lost
 * or sent twice.
 *
 * CommonJS (.cts) and light on purpose: Node 20 has no compile cache, and its ESM loader alone
 * costs a `hush send` ~10-15 ms of CPU. Until a daemon answers this loads node:path, node:fs,
 * this file, ./fast-table.cjs, src/daemon/cli-wire.cjs, src/daemon/socket-path.cjs and
 * src/daemon/light-socket.cjs; then, for a terminal (or a Node without the pipe bindings
 * light-socket needs), node:net. The one ESM module
 * it may load is ./output.js, to print "the daemon went away" as the CLI prints errors.
 * The client side of cli.run here is the connector's (src/daemon/connector.ts) for a command
 * that reads no stdin; test/unit/fast-table.test.ts pins the constants it shares with
 * src/daemon/rpc.ts, test/cli/daemon.test.ts the request and the modules loaded.
 */
import { resolve as resolvePath } from 'node:path';
import type * as Net from 'node:net';
import { type CliAnswer, cliLineReader, readCliLines, type Terminal, terminalOf } from '../daemon/cli-wire.cjs';
import { type LightSocket, lightConnect, lightSupport, writeFdSync } from '../daemon/light-socket.cjs';
import { daemonPaths, unsafeReason } from '../daemon/socket-path.cjs';
import { FAST_TABLE } from './fast-table.cjs';

/** src/daemon/rpc.ts CLIENT_ENV_KEYS (the client's environment a command run for it sees). */
export const FAST_CLIENT_ENV_KEYS = ['HUSH_RELAY', 'HUSH_RELAY_TIMEOUT', 'HUSH_TOKEN_LIFETIME', 'NO_COLOR', 'HUSH_DEBUG'] as const;

interface Opt {
  /** commander's attribute name: --read-receipts -> readReceipts. */
  key: string;
  value: boolean;
  negate: boolean;
  global: boolean;
  parsed: boolean;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** `--limit <n>`, `--no-read-receipts`, `-o, --output <path>` → the long name and its kind (undefined: not one we read). */
function readFlags(flags: string, global: boolean, parsed: boolean): [string, Opt] | undefined {
  const m = /^(?:-[a-zA-Z], )?--([a-z][a-z0-9-]*)(?: <[^>]+>)?$/.exec(flags);
  if (!m) return undefined;
  const long = m[1]!;
  const negate = long.startsWith('no-');
  return [long, { key: camel(negate ? long.slice(3) : long), value: flags.endsWith('>'), negate, global, parsed }];
}

export interface FastRequest {
  home: string;
  command: string;
  args: Record<string, string | string[] | undefined>;
  opts: Record<string, unknown>;
  global: { json: boolean; color: boolean; relay?: string | undefined; relayTimeout?: string | undefined; tokenLifetime?: string | undefined };
}

/** argv as commander would read it, or undefined: leave it to the normal CLI. */
export function parseFast(argv: readonly string[], env: NodeJS.ProcessEnv): FastRequest | undefined {
  if (env.HUSH_NO_DAEMON === '1') return undefined;
  const tokens = argv.slice(2);
  const known = new Map<string, Opt>();
  for (const g of FAST_TABLE.global) {
    const f = readFlags(g.flags, true, g.parsed);
    if (f) known.set(f[0], f[1]);
  }
  let command: string | undefined;
  const positional: string[] = [];
  const values: Record<string, unknown> = {};
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith('-') || t === '-') {
      if (command === undefined) {
        const spec = Object.hasOwn(FAST_TABLE.commands, t) ? FAST_TABLE.commands[t] : undefined;
        if (!spec) return undefined;
        command = t;
        for (const o of spec.options) {
          const f = readFlags(o.flags, false, o.parsed);
          if (!f) return undefined; // a flag form this reader does not know
          known.set(f[0], f[1]);
          if (o.default !== undefined) values[f[1].key] = o.default;
        }
        // commander: a lone --no-x makes x default to true.
        for (const [long, o] of known) if (!o.global && o.negate && !known.has(long.slice(3))) values[o.key] ??= true;
      } else positional.push(t);
      continue;
    }
    if (!t.startsWith('--') || t === '--') return undefined; // short options, `--`: commander's business
    const eq = t.indexOf('=');
    const long = t.slice(2, eq === -1 ? undefined : eq);
    const o = known.get(long);
    if (!o || o.parsed || (command === undefined && !o.global)) return undefined;
    if (o.value) {
      let v: string | undefined;
      if (eq !== -1) v = t.slice(eq + 1);
      else {
        v = tokens[++i];
        if (v === undefined || v.startsWith('-')) return undefined;
      }
      values[o.key] = v;
    } else {
      if (eq !== -1) return undefined;
      values[o.key] = !o.negate;
    }
  }
  if (command === undefined || values.daemon === false || values.passphraseFd !== undefined) return undefined;
  const args: FastRequest['args'] = {};
  let p = 0;
  for (const a of FAST_TABLE.commands[command]!.args) {
    if (a.variadic) {
      args[a.name] = positional.slice(p);
      p = positional.length;
    } else {
      if (p >= positional.length && a.required) return undefined;
      args[a.name] = positional[p++];
    }
  }
  if (p < positional.length) return undefined; // commander: too many arguments
  // What the daemon would read from stdin (send with no text) stays with the normal CLI.
  if (command === 'send' && ((args.text as string[] | undefined) ?? []).length === 0) return undefined;
  const globalKeys = new Set([...known.values()].filter((o) => o.global).map((o) => o.key));
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (!globalKeys.has(k)) opts[k] = v;
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const home = homeOf(str('home'), env);
  if (home === undefined) return undefined;
  return {
    home,
    command,
    args,
    opts,
    global: { json: values.json === true, color: values.color !== false, relay: str('relay'), relayTimeout: str('relayTimeout'), tokenLifetime: str('tokenLifetime') },
  };
}

/** src/store/paths.ts resolveHome, for --home or HUSH_HOME (the default place is left to the normal CLI). */
function homeOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const chosen = flag ?? (env.HUSH_HOME !== undefined && env.HUSH_HOME !== '' ? env.HUSH_HOME : undefined);
  return chosen === undefined ? undefined : resolvePath(chosen);
}

/** The cli.run line main.ts's connector would write for this request (no stdin). */
export function cliRunLine(req: FastRequest, env: NodeJS.ProcessEnv, id: number, terminal: Terminal = terminalOf()): string {
  const clientEnv: Record<string, string> = {};
  for (const k of FAST_CLIENT_ENV_KEYS) if (typeof env[k] === 'string') clientEnv[k] = env[k];
  const params = {
    command: req.command,
    args: req.args,
    opts: req.opts,
    global: req.global,
    env: clientEnv,
    terminal,
    stdin: false,
  };
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'cli.run', params }) + '\n';
}

type Outcome = { code: number } | { refused: true } | { gone: true };

/** The daemon's answer as an outcome: an error answer means the daemon ran nothing. */
function outcomeOf(msg: CliAnswer): Outcome {
  // An error answer: the daemon ran nothing (stopping, a request it refuses); the normal CLI
  // asks again and prints what it says.
  if (msg.error !== undefined) return { refused: true };
  const code = msg.result?.exitCode;
  return { code: typeof code === 'number' ? code : 1 };
}

/** Hands the request to the daemon on `socket` and copies its output through. */
function exchange(socket: Net.Socket, line: string): Promise<Outcome> {
  const id = 1;
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      // The answer is in and its output written (stdout and stderr are synchronous for files
      // and pipes): close at once rather than end() and wait for the daemon's side to close,
      // which would keep this process alive until the daemon's event loop gets to it.
      socket.destroy();
      resolve(o);
    };
    readCliLines(socket, id, (msg) => finish(outcomeOf(msg)));
    socket.on('error', () => undefined);
    socket.on('close', () => finish({ gone: true }));
    socket.write(line);
  });
}

/** The exchange over node:net; undefined when nothing answers on the socket (stale). */
async function viaNet(socketPath: string, req: FastRequest, env: NodeJS.ProcessEnv): Promise<Outcome | undefined> {
  // Only now: node:net is a few ms of every start, and most commands find no daemon.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('node:net') as typeof Net;
  const socket = await new Promise<Net.Socket | undefined>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined)); // ECONNREFUSED: a stale socket (kill -9)
  });
  if (!socket) return undefined;
  // `hush … | head`: a closed stdout is not an error worth a stack trace (as main.ts).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  return exchange(socket, cliRunLine(req, env, 1));
}

/** The daemon's output to fd 1 or 2, as the stdio streams would write it (`hush … | head`: EPIPE ends quietly). */
function fdSink(stream: 'stdout' | 'stderr', text: string): void {
  try {
    writeFdSync(stream === 'stdout' ? 1 : 2, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (code !== 'EBADF') throw e; // a closed fd 1 or 2: Node's stdio drops the text too
  }
}

/**
 * The same exchange over src/daemon/light-socket.cts (no node:net, no stdio stream), for a
 * process whose stdout and stderr are not terminals; undefined when nothing answers.
 */
function viaLight(b: NonNullable<ReturnType<typeof lightSupport>>, socketPath: string, req: FastRequest, env: NodeJS.ProcessEnv): Promise<Outcome | undefined> {
  return new Promise((resolve) => {
    let socket: LightSocket | undefined;
    let done = false;
    const finish = (o: Outcome | undefined): void => {
      if (done) return;
      done = true;
      socket?.close(); // as exchange(): the answer is in and its output written
      resolve(o);
    };
    const decoder = new TextDecoder();
    const read = cliLineReader(1, (msg) => finish(outcomeOf(msg)), fdSink);
    void lightConnect(
      b,
      socketPath,
      (chunk) => read(decoder.decode(chunk, { stream: true })),
      () => finish({ gone: true }),
    ).then((s) => {
      if (!s) return finish(undefined); // ECONNREFUSED: a stale socket (kill -9)
      socket = s;
      s.write(
        cliRunLine(
          req,
          env,
          1,
          terminalOf((fd) => b.isTTY(fd)),
        ),
      );
    });
  });
}

/** Runs argv through the home's daemon; its exit code, or undefined: run the normal CLI. */
export async function fastPath(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const req = parseFast(argv, env);
  if (!req) return undefined;
  // No daemon (the common case), or a place the normal CLI warns about: decided with two lstats.
  const p = daemonPaths(req.home);
  if (unsafeReason(p) !== undefined) return undefined;
  // A script's pipes or files take the light socket; a terminal (or a Node without the
  // bindings) node:net and the stdio streams.
  const light = lightSupport(env);
  const o = light && !light.isTTY(1) && !light.isTTY(2) ? await viaLight(light, p.socket, req, env) : await viaNet(p.socket, req, env);
  if (!o) return undefined;
  if ('code' in o) return o.code;
  if ('refused' in o) return undefined;
  // The connector's words (src/daemon/connector.ts), printed as the CLI prints errors.
  const { createOutput } = (await import('./output.js')) as typeof import('./output.js');
  createOutput({ json: req.global.json, color: req.global.color, env }).error(
    'the hush daemon went away before the command finished',
    'check hush history for what was done, then run the command again (--no-daemon runs it without the daemon)',
  );
  return 4;
}
