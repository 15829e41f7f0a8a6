/**
 * The JSON-RPC methods of `hush daemon` (docs/RPC.md has each one's params, result, errors and
 * examples). Every messaging method runs the same command file as the CLI, with --json, in the
 * daemon (./exec.ts), and returns its JSON lines: one implementation, one behaviour, whether a
 * person types `hush send` or a bot calls `send`.
 *
 * To add a method (files and groups are reserved for #15 and the groups work: `files.*` and
 * `groups.*` answer -32601 "reserved" until then): write a `Method` below and list it in
 * METHODS, then document it in docs/RPC.md.
 */
import { PassThrough, Readable } from 'node:stream';
import { fromB64 } from '../protocol/encoding.js';
import { CLIENT_ENV_KEYS, DAEMON_COMMANDS, execCommand, type ExecRequest, type ExecTerminal } from './exec.js';
import { bool, int, onlyKeys, RpcCode, RpcError, type RpcId, str, strList } from './rpc.js';
import type { Conn, Daemon } from './server.js';

export interface Call {
  daemon: Daemon;
  conn: Conn;
  params: Record<string, unknown>;
  id: RpcId;
}

export type Method = (call: Call) => Promise<unknown>;

const NO_TTY: ExecTerminal = { stdoutTTY: false, stderrTTY: false, stdinTTY: false, stdoutDepth: 1, stderrDepth: 1 };

function invalid(message: string): RpcError {
  return new RpcError(RpcCode.invalidParams, `invalid params: ${message}`);
}

/** Runs a command with --json for a structured method; its JSON lines, or its error thrown. */
async function runJson(d: Daemon, command: string, args: ExecRequest['args'], opts: ExecRequest['opts'], input?: string): Promise<Record<string, unknown>[]> {
  let stdout = '';
  const g = d.o.ctx.global;
  const env: ExecRequest['env'] = {};
  for (const k of CLIENT_ENV_KEYS) if (typeof d.o.ctx.env[k] === 'string') env[k] = d.o.ctx.env[k];
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

const byEvent = (lines: Record<string, unknown>[], event: string): Record<string, unknown>[] => lines.filter((l) => l.event === event);

const whoami: Method = async ({ daemon, params }) => {
  onlyKeys(params, []);
  return (await runJson(daemon, 'whoami', {}, {}))[0];
};

const contacts: Method = async ({ daemon, params }) => {
  onlyKeys(params, []);
  return { contacts: await runJson(daemon, 'contacts', {}, {}) };
};

const history: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['name', 'limit', 'since', 'readReceipts']);
  const name = str(params, 'name');
  const limit = int(params, 'limit', 1, 1_000_000);
  const since = str(params, 'since');
  const rr = bool(params, 'readReceipts');
  const opts = { ...(limit === undefined ? {} : { limit: String(limit) }), ...(since === undefined ? {} : { since }), ...(rr === false ? { readReceipts: false } : {}) };
  return { messages: await runJson(daemon, 'history', { name }, opts) };
};

const send: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['to', 'text', 'lines']);
  const to = str(params, 'to', true);
  const text = str(params, 'text');
  const lines = strList(params, 'lines');
  if ((text === undefined) === (lines === undefined)) throw invalid('give exactly one of "text" (one message) or "lines" (one message each)');
  if (lines?.some((l) => l.includes('\n') || l.includes('\r'))) throw invalid('an entry of "lines" must not contain a line break (send it as "text")');
  const out =
    text !== undefined
      ? await runJson(daemon, 'send', { name: to, text: [text] }, {})
      : await runJson(daemon, 'send', { name: to, text: [] }, { lines: true }, lines!.join('\n') + '\n');
  return { sent: byEvent(out, 'sent') };
};

const pull: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['readReceipts', 'deliveryReceipts']);
  const rr = bool(params, 'readReceipts');
  const dr = bool(params, 'deliveryReceipts');
  const out = await runJson(daemon, 'pull', {}, { ...(rr === false ? { readReceipts: false } : {}), ...(dr === false ? { deliveryReceipts: false } : {}) });
  return { messages: byEvent(out, 'message'), quarantined: byEvent(out, 'quarantined'), sent: byEvent(out, 'sent') };
};

const verify: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['name']);
  return (await runJson(daemon, 'verify', { name: str(params, 'name', true) }, {}))[0];
};

const trust: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['name', 'fingerprint', 'reject']);
  const name = str(params, 'name', true);
  const fp = str(params, 'fingerprint');
  const reject = bool(params, 'reject') === true;
  // No terminal to confirm on: the caller says what it compared, or rejects.
  if ((fp === undefined) === !reject) throw invalid('give exactly one of "fingerprint" (what you compared) or "reject": true');
  const out = await runJson(daemon, 'trust', { name }, reject ? { reject: true } : { fingerprint: fp });
  return { ...out.find((l) => l.event === 'trusted' || l.event === 'rejected'), messages: byEvent(out, 'message') };
};

const subscribe: Method = async ({ daemon, conn, params }) => {
  onlyKeys(params, []);
  conn.subscribed = true;
  return { subscribed: true, name: daemon.name, relay: daemon.relayUrl ?? null };
};

const unsubscribe: Method = async ({ conn, params }) => {
  onlyKeys(params, []);
  conn.subscribed = false;
  return { subscribed: false };
};

const hello: Method = async ({ daemon, params }) => {
  onlyKeys(params, []);
  return { rpc: 1, name: daemon.name, home: daemon.o.home, pid: process.pid, relay: daemon.relayUrl ?? null, started: daemon.started, idleLockMs: daemon.o.idleLockMs };
};

const stop: Method = async ({ daemon, params }) => {
  onlyKeys(params, []);
  setImmediate(() => void daemon.stop('hush lock')); // after this answer is written
  return { stopping: true };
};

// --- the CLI's own path (./connector.ts) -------------------------------------------------------

function record(p: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = p[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`"${key}" must be an object`);
  return v as Record<string, unknown>;
}

const cliRun: Method = async ({ daemon, conn, params, id }) => {
  onlyKeys(params, ['command', 'args', 'opts', 'global', 'env', 'terminal', 'stdin']);
  const command = str(params, 'command', true);
  if (!DAEMON_COMMANDS.has(command)) throw invalid(`"command" must be one of ${[...DAEMON_COMMANDS].join(', ')}`);
  const args = record(params, 'args');
  for (const [k, v] of Object.entries(args))
    if (!(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))) throw invalid(`args.${k} must be a string or strings`);
  const opts = record(params, 'opts');
  for (const [k, v] of Object.entries(opts)) if (!['string', 'boolean', 'number'].includes(typeof v)) throw invalid(`opts.${k} must be a string, boolean or number`);
  const g = record(params, 'global');
  const e = record(params, 'env');
  const t = record(params, 'terminal');
  const env: ExecRequest['env'] = {};
  for (const k of CLIENT_ENV_KEYS) if (typeof e[k] === 'string') env[k] = e[k];
  const gs = (k: string): string | undefined => (typeof g[k] === 'string' ? g[k] : undefined);
  const depth = (v: unknown): number => (typeof v === 'number' && [1, 4, 8, 24].includes(v) ? v : 1);
  let stdin: PassThrough | undefined;
  if (bool(params, 'stdin') === true) {
    if (id === null) throw invalid('"stdin": true needs a request id (cli.stdin names it)');
    stdin = new PassThrough();
    conn.inputs.set(String(id), stdin);
  }
  try {
    const exec = (): ReturnType<typeof execCommand> =>
      execCommand(
        daemon.o.home,
        daemon.o.ctx.env,
        daemon.backend,
        {
          command,
          args: args as ExecRequest['args'],
          opts,
          global: { json: g.json === true, color: g.color !== false, relay: gs('relay'), relayTimeout: gs('relayTimeout'), tokenLifetime: gs('tokenLifetime') },
          env,
          terminal: {
            stdoutTTY: t.stdoutTTY === true,
            stderrTTY: t.stderrTTY === true,
            stdinTTY: t.stdinTTY === true,
            stdoutDepth: depth(t.stdoutDepth),
            stderrDepth: depth(t.stderrDepth),
          },
          ...(stdin ? { stdin } : {}),
        },
        (stream, text) => conn.notify('cli.output', { request: id, stream, text }),
      );
    const r = command === 'pull' ? await daemon.serialPull(exec) : await exec();
    return { exitCode: r.exitCode };
  } finally {
    if (stdin) conn.inputs.delete(String(id));
  }
};

const cliStdin: Method = async ({ conn, params }) => {
  onlyKeys(params, ['request', 'data', 'end']);
  const key = params.request;
  if (typeof key !== 'string' && typeof key !== 'number') throw invalid('"request" must be the id of a cli.run with "stdin": true');
  const input = conn.inputs.get(String(key));
  if (!input) throw invalid(`no cli.run ${JSON.stringify(key)} reads stdin on this connection`);
  const data = str(params, 'data');
  if (data !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = fromB64(data);
    } catch {
      throw invalid('"data" must be base64');
    }
    input.write(Buffer.from(bytes));
  }
  if (bool(params, 'end') === true) input.end();
  return { ok: true };
};

export const METHODS: Record<string, Method> = {
  'daemon.hello': hello,
  'daemon.stop': stop,
  whoami,
  contacts,
  history,
  send,
  pull,
  verify,
  trust,
  subscribe,
  unsubscribe,
  'cli.run': cliRun,
  'cli.stdin': cliStdin,
};
