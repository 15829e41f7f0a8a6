/**
 * The CLI's fast path to a running `hush daemon` (bin/hush.js calls it before anything else):
 * for a command the daemon runs (`send NAME TEXT…`, `pull`, `history`, `contacts`, `verify`,
 * `group`, `files`), when the home's daemon socket is there, it reads argv itself, hands the
 * same cli.run request main.ts would hand over (src/daemon/connector.ts) and copies the
 * daemon's answer through, before commander, chalk or the CLI's own modules are loaded.
 *
 * It only takes what it reads exactly as commander would: the command table's arguments and
 * options, the global options, `--opt value` and `--opt=value`. Anything else returns
 * undefined and the normal CLI runs (and may still hand the command to the daemon): no socket,
 * --no-daemon / HUSH_NO_DAEMON=1, help or version, an unknown or short option, `--`, an option
 * that takes a parser (--file, --passphrase-fd), a missing or extra argument, a `send` that
 * reads stdin, an unsafe daemon place (the normal CLI warns), and a daemon that refuses the
 * request (nothing was run then). Nothing is read from stdin before that decision, so nothing
 * is lost or sent twice.
 *
 * Light on purpose: node:path, node:fs (lstat) and the command table until a daemon socket is
 * there, then node:net and the connector; tested in
 * test/cli/daemon.test.ts (the same assertions through both paths).
 */
import * as path from 'node:path';
import { COMMANDS, type CommandSpec } from './commands/index.js';
import { GLOBAL_OPTIONS } from './global-options.js';
import { daemonPaths, unsafeReason } from '../daemon/socket-path.js';

/** The commands main.ts hands to a daemon (its VIA_DAEMON). */
const FAST = new Set(['send', 'pull', 'history', 'contacts', 'verify', 'group', 'files']);

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
  spec: CommandSpec;
  args: Record<string, string | string[] | undefined>;
  opts: Record<string, unknown>;
  global: { json: boolean; color: boolean; relay?: string; relayTimeout?: string; tokenLifetime?: string };
}

/** argv as commander would read it, or undefined: leave it to the normal CLI. */
export function parseFast(argv: readonly string[], env: NodeJS.ProcessEnv): FastRequest | undefined {
  if (env.HUSH_NO_DAEMON === '1') return undefined;
  const tokens = argv.slice(2);
  const known = new Map<string, Opt>();
  for (const g of GLOBAL_OPTIONS) {
    const f = readFlags(g.flags, true, g.flags.startsWith('--passphrase-fd'));
    if (f) known.set(f[0], f[1]);
  }
  let spec: CommandSpec | undefined;
  const positional: string[] = [];
  const values: Record<string, unknown> = {};
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith('-') || t === '-') {
      if (!spec) {
        spec = COMMANDS.find((c) => c.name === t);
        if (!spec || !FAST.has(t) || spec.passThrough) return undefined;
        for (const o of spec.options ?? []) {
          const f = readFlags(o.flags, false, o.parse !== undefined);
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
    if (!o || o.parsed || (!spec && !o.global)) return undefined;
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
  if (!spec || values.daemon === false || values.passphraseFd !== undefined) return undefined;
  const args: FastRequest['args'] = {};
  const specArgs = spec.args ?? [];
  let p = 0;
  for (const a of specArgs) {
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
  if (spec.name === 'send' && ((args.text as string[] | undefined) ?? []).length === 0) return undefined;
  const globalKeys = new Set([...known.values()].filter((o) => o.global).map((o) => o.key));
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (!globalKeys.has(k)) opts[k] = v;
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const home = homeOf(str('home'), env);
  if (home === undefined) return undefined;
  return {
    home,
    spec,
    args,
    opts,
    global: { json: values.json === true, color: values.color !== false, relay: str('relay'), relayTimeout: str('relayTimeout'), tokenLifetime: str('tokenLifetime') },
  };
}

/** src/store/paths.ts resolveHome, for --home or HUSH_HOME (the default place is left to the normal CLI). */
function homeOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const chosen = flag ?? (env.HUSH_HOME !== undefined && env.HUSH_HOME !== '' ? env.HUSH_HOME : undefined);
  return chosen === undefined ? undefined : path.resolve(chosen);
}

/** Runs argv through the home's daemon; its exit code, or undefined: run the normal CLI. */
export async function fastPath(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const req = parseFast(argv, env);
  if (!req) return undefined;
  // No daemon (the common case), or a place the normal CLI warns about: decided with two lstats.
  if (unsafeReason(daemonPaths(req.home)) !== undefined) return undefined;
  const { runViaDaemon } = await import('../daemon/connector.js');
  // `hush … | head`: a closed stdout is not an error worth a stack trace (as main.ts).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  let failure: { message: string; hint?: string } | undefined;
  const code = await runViaDaemon({
    home: req.home,
    command: req.spec.name,
    args: req.args,
    opts: req.opts,
    global: req.global,
    env,
    stdin: false,
    warn: () => undefined, // an unsafe place: the normal CLI says so
    error: (message, hint) => (failure = { message, ...(hint === undefined ? {} : { hint }) }),
    refused: 'undefined',
  });
  if (failure) {
    const { createOutput } = await import('./output.js');
    createOutput({ json: req.global.json, color: req.global.color, env }).error(failure.message, failure.hint);
  }
  return code;
}
