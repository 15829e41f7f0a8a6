/**
 * Entry point of the `hush` CLI (bin/hush.js calls `main(process.argv)`).
 *
 * Builds the commander program from the command table (./commands/index.ts) and loads a
 * command's module only when it runs. This file imports only commander, the table, the output
 * module and the error boundary, so a cold `hush --help` loads no argon2, ws or SQLite
 * (tested in test/cli/foundation.test.ts).
 *
 * The exit code is set with process.exitCode (never process.exit), so pending output is
 * flushed and a long-running command (`hush relay`, `hush listen`) keeps the process alive.
 */
import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';
import { ExitCode } from '../errors.js';
import { COMMANDS, type CommandArgs, type CommandContext, type CommandSpec, type GlobalOptions } from './commands/index.js';
import { GLOBAL_OPTIONS } from './global-options.js';
import { createOutput, type Output } from './output.js';
import { reportError, reportUsage } from './run.js';

// `import … from 'node:fs'` in ESM builds the module's ESM facade, which reads every export of
// fs, including the lazy `fs.ReadStream` getter that loads Node's fs streams (~7 ms of a
// `hush --help`); `require` does not.
const load = createRequire(import.meta.url);
const { readFileSync } = load('node:fs') as typeof import('node:fs');
// commander is CommonJS: require() is cheaper than its ESM wrapper (see src/client/relay-client.ts).
const { Command, CommanderError, InvalidArgumentError, Option } = load('commander') as typeof CommanderModule;
type Command = CommanderModule.Command;
type Option = CommanderModule.Option;

function parseFd(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a file descriptor number');
  return Number(value);
}

/** The global options, added to the program and (hidden) to every non-pass-through command. */
function globalOptions(): Option[] {
  return GLOBAL_OPTIONS.map((g) => {
    const o = new Option(g.flags, g.description);
    return g.flags.startsWith('--passphrase-fd') ? o.argParser(parseFd) : o;
  });
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface RawGlobals {
  home?: string;
  relay?: string;
  json?: boolean;
  passphraseFile?: string;
  passphraseFd?: number;
  color?: boolean;
  relayTimeout?: string;
  tokenLifetime?: string;
  requireFs?: boolean;
  prekeyRotation?: string;
  prekeyGrace?: string;
  daemon?: boolean;
}

function mergeGlobals(outer: RawGlobals, inner: RawGlobals): GlobalOptions {
  return {
    home: inner.home ?? outer.home,
    relay: inner.relay ?? outer.relay,
    json: inner.json === true || outer.json === true,
    passphraseFile: inner.passphraseFile ?? outer.passphraseFile,
    passphraseFd: inner.passphraseFd ?? outer.passphraseFd,
    color: inner.color !== false && outer.color !== false,
    relayTimeout: inner.relayTimeout ?? outer.relayTimeout,
    tokenLifetime: inner.tokenLifetime ?? outer.tokenLifetime,
    requireFs: inner.requireFs === true || outer.requireFs === true,
    prekeyRotation: inner.prekeyRotation ?? outer.prekeyRotation,
    prekeyGrace: inner.prekeyGrace ?? outer.prekeyGrace,
    daemon: inner.daemon !== false && outer.daemon !== false,
  };
}

const GLOBAL_KEYS = new Set([
  'home',
  'relay',
  'json',
  'passphraseFile',
  'passphraseFd',
  'color',
  'relayTimeout',
  'tokenLifetime',
  'requireFs',
  'prekeyRotation',
  'prekeyGrace',
  'daemon',
]);

/**
 * The commands a running `hush daemon` of the home runs instead (src/daemon/connector.ts).
 * Not `save` nor `send --file`: their paths are relative to the caller's working directory, and
 * their messages show them as typed (docs/RPC.md, "The CLI and the daemon").
 */
const VIA_DAEMON = new Set(['send', 'pull', 'history', 'contacts', 'verify', 'group', 'files']);
const withFiles = (opts: Record<string, unknown>): boolean => Array.isArray(opts.file) && opts.file.length > 0;

export async function main(argv: string[] = process.argv): Promise<number> {
  const env = process.env;
  // `hush … | head`: a closed stdout is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
    throw e;
  });
  // Used for errors raised before the options are parsed (commander's usage errors).
  let out: Output = createOutput({ color: !argv.includes('--no-color'), env });
  let commandPath = 'hush';
  let daemonCode: number | undefined;

  const program = new Command('hush')
    .description('end-to-end encrypted messenger for the terminal')
    .version(version(), '-v, --version', 'print the version (also: hush version, -V)')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .enablePositionalOptions()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      // Only used for help shown because of an error (no command given): the boundary below
      // prints one house-format error instead of a help page on stderr.
      writeErr: () => undefined,
      // Printed by the boundary below in the house format instead.
      outputError: () => undefined,
    });
  for (const o of globalOptions()) program.addOption(o);

  for (const spec of COMMANDS) addCommand(program, spec);

  function addCommand(parent: Command, spec: CommandSpec): void {
    const cmd = parent.command(spec.name).description(spec.summary);
    if (spec.passThrough) {
      cmd.helpOption(false).allowUnknownOption().allowExcessArguments().passThroughOptions().argument('[argv...]');
    } else {
      for (const a of spec.args ?? []) {
        const n = a.variadic ? `${a.name}...` : a.name;
        cmd.argument(a.required ? `<${n}>` : `[${n}]`, a.description);
      }
      for (const o of spec.options ?? []) {
        const opt = new Option(o.flags, o.description);
        if (o.default !== undefined) opt.default(o.default);
        if (o.parse) opt.argParser(o.parse);
        cmd.addOption(opt);
      }
      for (const o of globalOptions()) cmd.addOption(o.hideHelp());
    }
    cmd.action(async (...params: unknown[]) => {
      commandPath = `hush ${spec.name}`;
      const self = params[params.length - 1] as Command;
      const raw = self.opts<Record<string, unknown>>();
      const global = mergeGlobals(program.opts<RawGlobals>(), spec.passThrough ? {} : (raw as RawGlobals));
      const opts: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) if (!GLOBAL_KEYS.has(k)) opts[k] = v;
      const args: CommandArgs = {};
      if (spec.passThrough) args.argv = (params[0] as string[] | undefined) ?? [];
      else (spec.args ?? []).forEach((a, i) => (args[a.name] = params[i] as string | string[] | undefined));
      out = createOutput({ json: global.json, color: global.color, env });
      if (VIA_DAEMON.has(spec.name) && !withFiles(opts) && global.daemon !== false && env.HUSH_NO_DAEMON !== '1') {
        const { runViaDaemon } = await import('../daemon/connector.js');
        const { resolveHome } = await import('../store/paths.js');
        const o = out;
        daemonCode = await runViaDaemon({
          home: resolveHome(global.home, env),
          command: spec.name,
          args,
          opts,
          global: { json: global.json, color: global.color, relay: global.relay, relayTimeout: global.relayTimeout, tokenLifetime: global.tokenLifetime },
          env,
          stdin: spec.name === 'send' && ((args.text as string[] | undefined) ?? []).length === 0,
          warn: (m) => o.warn(m),
          error: (m, h) => o.error(m, h),
        });
        if (daemonCode !== undefined) return;
      }
      // A command that unlocks first: Argon2id runs while its modules load (src/cli/early-unlock.ts).
      const early = spec.unlocksFirst ? await import('./early-unlock.js') : undefined;
      const ctx: CommandContext = { global, out, env };
      const started = early?.startEarlyUnlock(global, env);
      if (started) ctx.early = started;
      try {
        const mod = await spec.load();
        // One-shot relay commands show a status line while a relay is slow to greet (listen and
        // chat have their own connection status lines).
        if (spec.name === 'register' || spec.name === 'send' || spec.name === 'pull') (await import('./progress.js')).watchRelayConnects(out);
        // The OS keychain as passphrase source 4 (src/cli/keychain-hook.ts, loaded lazily).
        (await import('./keychain-hook.js')).installKeychainSource(out, env);
        await mod.run(ctx, args, opts);
      } finally {
        early?.dropEarlyUnlock(started);
      }
    });
    cmd.configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: () => undefined,
      // Remember which command a usage error belongs to, for the hint.
      outputError: () => {
        commandPath = `hush ${spec.name}`;
      },
    });
  }

  // `hush version` and `hush -V` are spellings of `hush --version` (as in git and npm).
  const first = argv[2];
  const args = first === 'version' || first === '-V' ? [...argv.slice(0, 2), '--version', ...argv.slice(3)] : argv;

  let code: number = ExitCode.ok;
  try {
    await program.parseAsync(args);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') code = ExitCode.ok;
      // `hush help` and `hush help CMD` print the help asked for (exit status 0 from commander).
      else if (err.code === 'commander.help' && err.exitCode === 0) code = ExitCode.ok;
      else if (err.code === 'commander.help') {
        // No command, or `hush help <unknown>`.
        const operands = argv.slice(2).filter((a) => !a.startsWith('-'));
        if (operands[0] === 'help' && operands[1] !== undefined) out.error(`unknown command '${operands[1]}'`, 'run hush --help to see the commands');
        else out.error('missing command', 'run hush --help to see the commands');
        code = ExitCode.usage;
      } else code = reportUsage(out, err.message, commandPath);
    } else {
      code = reportError(out, err, env);
    }
  }
  if (daemonCode !== undefined && code === ExitCode.ok) code = daemonCode;
  process.exitCode = code;
  return code;
}
