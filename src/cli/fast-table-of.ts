/**
 * What bin/hush.js's fast path (./fast-path.cts) needs to know of the command table to read argv
 * exactly as commander would: per command a daemon serves, its arguments and its options'
 * flags (whether a parser runs on the value, the default), plus the global options' flags. The
 * fast path reads a generated copy of it (./fast-table.cts, scripts/gen-fast-table.mjs), so it
 * loads no ESM module at all; test/unit/fast-table.test.ts compares the two.
 */
import type { CommandSpec } from './commands/index.js';
import type { GlobalOptionSpec } from './global-options.js';

export interface FastOption {
  /** commander flags, e.g. '--limit <n>', '--no-read-receipts'. */
  flags: string;
  /** A parser runs on the value (--file, --passphrase-fd): left to the normal CLI. */
  parsed: boolean;
  default?: string | boolean | number;
}

export interface FastArg {
  name: string;
  required: boolean;
  variadic: boolean;
}

export interface FastCommand {
  args: FastArg[];
  options: FastOption[];
}

export interface FastTable {
  global: FastOption[];
  commands: Record<string, FastCommand>;
}

export function fastTableOf(commands: readonly CommandSpec[], globals: readonly GlobalOptionSpec[], daemonCommands: ReadonlySet<string>): FastTable {
  const out: FastTable = { global: globals.map((g) => ({ flags: g.flags, parsed: g.flags.startsWith('--passphrase-fd') })), commands: {} };
  for (const c of commands) {
    if (!daemonCommands.has(c.name) || c.passThrough) continue;
    out.commands[c.name] = {
      args: (c.args ?? []).map((a) => ({ name: a.name, required: a.required === true, variadic: a.variadic === true })),
      options: (c.options ?? []).map((o) => ({ flags: o.flags, parsed: o.parse !== undefined, ...(o.default === undefined ? {} : { default: o.default }) })),
    };
  }
  return out;
}
