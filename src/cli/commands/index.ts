/**
 * The command table of hush: every command is one entry here plus one file in this folder
 * exporting `run`. main.ts builds the commander program from this table and imports a
 * command's file only when that command runs, so `hush --help` loads no argon2, ws or SQLite.
 *
 * To add a command `foo`:
 *   1. write src/cli/commands/foo.ts:
 *        import type { CommandRun } from './index.js';
 *        export const run: CommandRun = async (ctx, args, opts) => { ... ctx.out.data(...) };
 *   2. add an entry below: { name: 'foo', summary: '...', args: [...], options: [...],
 *        load: () => import('./foo.js') }
 *   3. add a row to README.md's Commands table.
 * Changing the arguments or options of a command `hush daemon` runs (src/daemon/rpc.ts
 * DAEMON_COMMANDS) or a global option: `npm run build && node scripts/gen-fast-table.mjs`
 * (bin/hush.js's fast path reads a generated copy; test/unit/fast-table.test.ts checks it).
 * Throw HushError subclasses (src/errors.ts) for every failure; never print or exit yourself:
 * print through ctx.out (src/cli/output.ts), and the error boundary in main.ts sets the exit code.
 *
 * This file must stay light: it imports types only.
 */
import type { Output } from '../output.js';

/** The global options, merged from before and after the command name. */
export interface GlobalOptions {
  /** --home DIR (HUSH_HOME is applied by src/store/paths.ts resolveHome). */
  home?: string;
  /** --relay URL (HUSH_RELAY and config.json are applied by src/store/config.ts resolveRelay). */
  relay?: string;
  json: boolean;
  passphraseFile?: string;
  passphraseFd?: number;
  /** false with --no-color. */
  color: boolean;
  /** --relay-timeout DURATION (HUSH_RELAY_TIMEOUT is applied by src/cli/messaging.ts relayTimeoutMs). */
  relayTimeout?: string | undefined;
  /** --token-lifetime DURATION (HUSH_TOKEN_LIFETIME is applied by src/cli/messaging.ts tokenLifetimeMs). */
  tokenLifetime?: string | undefined;
  /** --require-fs: refuse protocol v1 both ways (also config requireForwardSecrecy). */
  requireFs?: boolean;
  /** --prekey-rotation DURATION (else config signedPrekeyRotation; src/cli/messaging.ts prekeyPolicy). */
  prekeyRotation?: string | undefined;
  /** --prekey-grace DURATION (else config signedPrekeyGrace; src/cli/messaging.ts prekeyPolicy). */
  prekeyGrace?: string | undefined;
  /** false with --no-daemon (or HUSH_NO_DAEMON=1): never hand the command to `hush daemon`. */
  daemon?: boolean;
}

export interface CommandContext {
  global: GlobalOptions;
  out: Output;
  env: NodeJS.ProcessEnv;
  /** Where the command reads its input (default process.stdin); `hush daemon` streams the client's. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Whether the user's stderr is a terminal (default process.stderr.isTTY; the daemon passes its client's). */
  stderrTTY?: boolean;
  /** Set when `hush daemon` runs the command for a client: the identity it holds (src/daemon/). */
  backend?: DaemonBackend;
  /** The keyring's unlock, started before the command's modules loaded (src/cli/early-unlock.ts); unlockHome takes it. */
  early?: import('../early-unlock.js').EarlyUnlock;
}

/** What a command run inside `hush daemon` gets instead of unlocking the keyring itself. */
export interface DaemonBackend {
  /** A copy of the unlocked keyring (the command wipes it when done). */
  unlocked(): import('../../store/keyring-store.js').Unlocked;
  /** Incoming history rows after this one are new to this client (the daemon's pull cursor). */
  shownAfter(): number;
  /** The command showed incoming rows up to this one. */
  shown(row: number): void;
  /**
   * The daemon's shared sender (src/daemon/send-batcher.ts): one Messenger and relay connection
   * whose concurrent sends share a store transaction and a pipelined relay send. undefined when
   * this command's relay settings differ from the daemon's: it then opens a session of its own.
   */
  sender?(ctx: CommandContext): Promise<BatchSender | undefined>;
  /**
   * The home's mode warnings (src/store/paths.ts homeWarnings), checked for this command: the
   * daemon lets requests that arrive while one check is under way share it.
   */
  homeWarnings?(home: string): Promise<string[]>;
}

/** What a send through the daemon's shared sender came to (hush send prints it as the direct path would). */
export interface BatchSendResult {
  /** Notes about the recipient (pinned, protocol, routed), in order. */
  notes: import('../messaging.js').SendNote[];
  /** The messages the relay accepted: older outbox ones (fromOutbox) first, then this request's, in order. */
  sent: import('../../client/messenger.js').SentReport[];
  /** What the relay did not take (stays in the outbox). */
  failed: import('../../client/messenger.js').SendFailure[];
  /** Messages in the outbox after the send. */
  kept: number;
  relayUrl: string;
}

export interface BatchSender {
  /** Queues `texts` (one message each) to the contact `name`; resolves once the relay took them (or refused). */
  send(name: string, texts: readonly string[]): Promise<BatchSendResult>;
  /** Prints a note of a result as the direct path prints it. */
  printNote(out: Output, note: import('../messaging.js').SendNote): void;
}

/** Positional arguments by name (a variadic one is a string[]); missing optional ones are undefined. */
export type CommandArgs = Record<string, string | string[] | undefined>;
/** The command's own options by commander's camelCase name (`--new-passphrase-file` -> newPassphraseFile). */
export type CommandOpts = Record<string, unknown>;

export type CommandRun = (ctx: CommandContext, args: CommandArgs, opts: CommandOpts) => Promise<void>;

export interface ArgSpec {
  /** camelCase key in CommandArgs. */
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface OptSpec {
  /** commander flags, e.g. '--name <name>', '-f, --force', '--limit <n>'. */
  flags: string;
  description: string;
  default?: string | boolean | number;
  /** Convert/validate the value; throw commander's InvalidArgumentError or a UsageError. */
  parse?: (value: string) => unknown;
}

export interface CommandSpec {
  name: string;
  /** One line for `hush --help`. */
  summary: string;
  args?: ArgSpec[];
  options?: OptSpec[];
  /**
   * Give every argument after the command name to `run` untouched as args.argv (string[]),
   * options and --help included; global options are then only recognised before the name.
   */
  passThrough?: boolean;
  /**
   * The command opens the keyring before anything else it does with the home: with a
   * passphrase given in HUSH_PASSPHRASE or --passphrase-file, the key derivation starts while
   * its modules load (src/cli/early-unlock.ts).
   */
  unlocksFirst?: boolean;
  load: () => Promise<{ run: CommandRun }>;
}

/** commander accumulator for a repeatable option (--file A --file B). */
function collect(value: string, previous?: unknown): string[] {
  return [...(Array.isArray(previous) ? (previous as string[]) : []), value];
}

/** The options of the commands that receive mail (pull, listen). */
const RECEIVE_OPTIONS: OptSpec[] = [
  { flags: '--no-read-receipts', description: 'do not send read receipts for what is shown' },
  { flags: '--no-delivery-receipts', description: 'do not send delivered receipts for what is stored (strangers never get any)' },
  { flags: '--receipt-delay <min-max>', description: 'random wait before a receipt leaves, e.g. 5-60 (seconds; ms, s, m; default 5-60; 0 = at once)' },
  {
    flags: '--quarantine-limits <spec>',
    description: 'bounds of the quarantine, e.g. count=2000,bytes=32m,per-sender=200,per-sender-bytes=4m,age=30d (these are the defaults)',
  },
  {
    flags: '--ratchet-limits <spec>',
    description: 'bounds of the skipped message keys of v2 sessions, e.g. max-skip=1000,per-session=2000,total=20000,age=30d (these are the defaults)',
  },
  { flags: '--auto-save <dir>', description: 'save every file received into DIR (never over an existing file: a numbered name instead)' },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'init',
    summary: 'create your identity and a passphrase-protected keyring',
    options: [
      { flags: '--name <name>', description: 'your user name (default: your OS user name, lowercased)' },
      { flags: '--force', description: 'overwrite an existing keyring (the old identity is lost)' },
      { flags: '--weak-passphrase', description: 'accept a typed passphrase below the strength floor (40 bits, see README)' },
    ],
    load: () => import('./init.js'),
  },
  {
    name: 'whoami',
    summary: 'show your name, fingerprint, relay and keyring path (no passphrase needed)',
    load: () => import('./whoami.js'),
  },
  {
    name: 'passwd',
    summary: 'change the keyring passphrase',
    options: [
      { flags: '--new-passphrase-file <path>', description: 'read the new passphrase from a file (else HUSH_NEW_PASSPHRASE, else a prompt)' },
      { flags: '--weak-passphrase', description: 'accept a typed passphrase below the strength floor (40 bits, see README)' },
    ],
    load: () => import('./passwd.js'),
  },
  {
    name: 'unlock',
    summary: 'check the passphrase; with --remember, keep the derived key in the OS keychain',
    options: [
      { flags: '--remember', description: 'store the wrapping key (never the passphrase) in the OS keychain for this home' },
      { flags: '--for <duration>', description: 'how long the remembered key stays usable, e.g. 8h, 30d (default 7d, at most 365d)' },
    ],
    load: () => import('./unlock.js'),
  },
  {
    name: 'lock',
    summary: 'forget the key remembered in the OS keychain for this home',
    load: () => import('./lock.js'),
  },
  {
    name: 'daemon',
    summary: 'stay unlocked in the foreground: one relay connection, JSON-RPC on a socket in the home (docs/RPC.md)',
    options: [
      { flags: '--idle-lock <duration>', description: 'stop (forgetting the key) after this long without a request, e.g. 8h (default), 30m, 0 = never' },
      { flags: '--max-request-bytes <n>', description: 'longest JSON-RPC request line, 1k to 64m (default 1m)' },
      { flags: '--detach', description: 'run in the background (the passphrase from the environment, a file or the keychain); log in HOME/daemon/daemon.log' },
    ],
    load: () => import('./daemon.js'),
  },
  {
    name: 'relay',
    summary: 'run the bundled relay server (hush relay --help for its options)',
    passThrough: true,
    load: () => import('./relay.js'),
  },
  {
    name: 'register',
    summary: 'publish your key bundle under your name on the relay (the first relay becomes the default)',
    options: [
      { flags: '--default', description: 'make this --relay your default relay (the first one registered becomes it anyway)' },
      { flags: '--release', description: 'free your name on this relay instead (anyone may claim it then); before init --force, or from a kept old keyring' },
      { flags: '--transfer-to <key>', description: 'sign your name over to another identity key (base64 signPk); prints the statement, contacts no relay' },
      { flags: '--transfer-from <file>', description: 'take a name with the statement --transfer-to printed in the old home (- for stdin)' },
    ],
    load: () => import('./register.js'),
  },
  {
    name: 'send',
    summary: 'send an end-to-end encrypted message (text from the arguments, else stdin)',
    args: [
      { name: 'name', description: 'the recipient', required: true },
      { name: 'text', description: 'the message (default: stdin)', variadic: true },
    ],
    options: [
      { flags: '--lines', description: 'read stdin line by line: one message per line, sent as it arrives' },
      {
        flags: '--file <path>',
        description: 'send a file (end-to-end encrypted, through the relay; to @GROUP: one upload for every member); repeat for several; - reads stdin (with --name)',
        parse: collect,
      },
      { flags: '--name <name>', description: 'the file name the recipient sees for --file - (stdin)' },
    ],
    load: () => import('./send.js'),
  },
  {
    name: 'files',
    summary: 'list the files you received (all, or from one contact), with the id to save them by',
    args: [{ name: 'name', description: 'only the files from this contact' }],
    load: () => import('./files.js'),
  },
  {
    name: 'save',
    summary: 'download a received file, check it and write it (never over a file without --force)',
    args: [{ name: 'id', description: 'the file id shown by hush files or pull (a unique prefix is enough)', required: true }],
    options: [
      { flags: '-o, --output <path>', description: 'where to write it: a file path, or a directory (default: the current directory, under the sanitised name)' },
      { flags: '--force', description: 'replace an existing file' },
    ],
    load: () => import('./save.js'),
  },
  {
    name: 'pull',
    summary: 'fetch, open and store waiting messages, and print the new ones',
    options: RECEIVE_OPTIONS,
    unlocksFirst: true,
    load: () => import('./pull.js'),
  },
  {
    name: 'listen',
    summary: 'stay connected and print messages as they arrive (Ctrl-C to stop)',
    options: RECEIVE_OPTIONS,
    unlocksFirst: true,
    load: () => import('./listen.js'),
  },
  {
    name: 'history',
    summary: 'show the decrypted local history, both directions (no relay needed)',
    args: [{ name: 'name', description: 'only the messages with this contact' }],
    options: [
      { flags: '--limit <n>', description: 'the newest N messages, shown oldest first (default 50)' },
      { flags: '--since <time>', description: 'only messages since TIME: ISO 8601 (2026-11-23, 2026-11-23T20:40) or 30s, 15m, 2h, 7d' },
      { flags: '--no-read-receipts', description: 'do not queue read receipts for the messages shown' },
    ],
    unlocksFirst: true,
    load: () => import('./history.js'),
  },
  {
    name: 'contacts',
    summary: 'list your contacts: fingerprint, verified / unverified / KEY CHANGED, pinned time',
    unlocksFirst: true,
    load: () => import('./contacts.js'),
  },
  {
    name: 'verify',
    summary: "show your and a contact's fingerprints and safety number to compare out of band",
    args: [{ name: 'name', description: 'the contact', required: true }],
    load: () => import('./verify.js'),
  },
  {
    name: 'trust',
    summary: "mark a contact verified, accept or --reject a contact's changed key; re-opens their quarantined mail",
    args: [{ name: 'name', description: 'the contact', required: true }],
    options: [
      { flags: '--fingerprint <fp>', description: 'the fingerprint you compared (must match the key being trusted)' },
      { flags: '--reject', description: 'refuse the changed key: keep the pinned one, discard the new key and its quarantined mail' },
    ],
    load: () => import('./trust.js'),
  },
  {
    name: 'chat',
    summary: 'talk with a contact, or a group (@NAME), in an interactive terminal session (ticks, typing, /help)',
    args: [{ name: 'name', description: 'the contact, or @GROUP', required: true }],
    options: [
      { flags: '--no-read-receipts', description: 'do not send read receipts for what is shown' },
      { flags: '--no-delivery-receipts', description: 'do not send delivered receipts for what is stored (strangers never get any)' },
      { flags: '--receipt-delay <min-max>', description: 'random wait before a receipt leaves, e.g. 5-60 (seconds; ms, s, m; default 5-60; 0 = at once)' },
    ],
    load: () => import('./chat.js'),
  },
  {
    name: 'group',
    summary: 'groups by fan-out: create, add, remove, leave, list, show (send @NAME, history @NAME)',
    args: [
      { name: 'action', description: 'create, add, remove, leave, list or show', required: true },
      { name: 'group', description: 'the group (your name for it)' },
      { name: 'members', description: 'contacts to add or remove', variadic: true },
    ],
    options: [{ flags: '--max-members <n>', description: 'member cap, you included (create, add; 2-1000, default: maxGroupMembers in config.json, else 100)' }],
    load: () => import('./group.js'),
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh or fish)',
    args: [{ name: 'shell', description: 'bash, zsh or fish', required: true }],
    load: () => import('./completion.js'),
  },
];
