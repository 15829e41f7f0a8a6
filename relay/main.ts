/**
 * Entry point of the bundled relay: `hush relay [flags]` and `hush-relay [flags]` both call
 * relayMain(argv). The first line on stdout is the relay's URL; logs go to stderr, one line per
 * event. SIGINT/SIGTERM shut down gracefully (exit 0).
 */
import envPaths from 'env-paths';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ExitCode, isHushError, UsageError } from '../src/errors.js';
import { canonicalRelayUrl, MAX_HELLO_URLS } from '../src/protocol/frames.js';
import { LIMITS, parseLimitValue, type RelayLimitsConfig } from './config.js';
import { startRelay } from './server.js';

export { startRelay } from './server.js';
export type { RelayOptions, RunningRelay } from './server.js';

function defaultDataDir(): string {
  return join(envPaths('hush', { suffix: '' }).data, 'relay');
}

export function relayUsage(): string {
  const lines = [
    'usage: hush relay [options]        (also: hush-relay [options])',
    '',
    'Starts the hush relay: a blind WebSocket mailbox on an embedded SQLite store, or on a Redis',
    'that several relay processes share (--store redis://HOST:PORT/DB).',
    'Prints its URL as the first line on stdout; logs to stderr. Stop with Ctrl-C or SIGTERM.',
    '',
    'options (each also read from the environment variable shown):',
    '  --host HOST            interface to listen on (HUSH_RELAY_HOST, default 127.0.0.1)',
    '  --port PORT            port, 0 = any free port (HUSH_RELAY_PORT, default 7070)',
    `  --data DIR             data directory (HUSH_RELAY_DATA, default ${defaultDataDir()})`,
    '  --store STORE          sqlite:DIR (the same as --data DIR) or redis://[:PASSWORD@]HOST:PORT/DB, a Redis',
    '                         with appendonly yes that any number of relays share (HUSH_RELAY_STORE, default sqlite)',
    '  --redis-allow-volatile start on a Redis without an append-only file: accepted mail is lost when it stops',
    '                         (HUSH_RELAY_REDIS_ALLOW_VOLATILE=1)',
    '  --blob-dir DIR         with --store redis://: blob files go in DIR/blobs, a directory every relay on that',
    '                         Redis shares (HUSH_RELAY_BLOB_DIR; without it such a relay stores no files)',
    '  --public-url URL       a URL clients dial and sign, e.g. behind a proxy or on a LAN; repeatable,',
    '                         the first is announced (HUSH_RELAY_PUBLIC_URL, comma-separated; default:',
    '                         ws://HOST:PORT, and on loopback also ws://localhost:PORT, ws://[::1]:PORT)',
    '  --url URL              the same as --public-url (HUSH_RELAY_URL)',
    '',
    'limits (durations: 500ms, 10s, 5m, 2h, 7d, bare numbers are seconds; sizes: 4096, 64k, 2m, 4g):',
  ];
  for (const l of LIMITS) {
    const def = l.kind === 'duration' ? `${l.def}ms` : String(l.def);
    lines.push(`  --${(l.flag + ' N').padEnd(21)}${l.what} (${l.env}, default ${def})`);
  }
  lines.push('  -h, --help             show this help');
  return lines.join('\n') + '\n';
}

interface Parsed {
  host: string;
  port: number;
  data: string;
  /** redis://… when the store is Redis. */
  redisUrl?: string;
  /** --blob-dir (Redis only). */
  blobDir?: string;
  redisAllowVolatile: boolean;
  publicUrls: string[];
  limits: Partial<RelayLimitsConfig>;
  help: boolean;
}

export function parseRelayArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    host: { type: 'string' },
    port: { type: 'string' },
    data: { type: 'string' },
    store: { type: 'string' },
    'redis-allow-volatile': { type: 'boolean' },
    'blob-dir': { type: 'string' },
    'public-url': { type: 'string', multiple: true },
    url: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  };
  for (const l of LIMITS) options[l.flag] = { type: 'string' };
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values as Record<string, string | boolean | string[] | undefined>;
  } catch (e) {
    throw new UsageError('BAD_FLAG', (e as Error).message.split('\n')[0]!.replace(/\.$/, '').toLowerCase(), { hint: 'see hush relay --help' });
  }
  const pick = (flag: string, envName: string): string | undefined => (values[flag] as string | undefined) ?? (env[envName] || undefined);
  const portText = pick('port', 'HUSH_RELAY_PORT') ?? '7070';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
    throw new UsageError('BAD_FLAG', `--port ${JSON.stringify(portText)} is not a port number`, { hint: 'use 0 for any free port' });
  const limits: Partial<RelayLimitsConfig> = {};
  for (const l of LIMITS) {
    const text = pick(l.flag, l.env);
    if (text === undefined) continue;
    try {
      limits[l.key] = parseLimitValue(l, text);
    } catch (e) {
      throw new UsageError('BAD_FLAG', (e as Error).message, { hint: 'see hush relay --help' });
    }
  }
  // --public-url and --url (flags win over HUSH_RELAY_PUBLIC_URL and HUSH_RELAY_URL), in order.
  const flagUrls = [...((values['public-url'] as string[] | undefined) ?? []), ...((values.url as string[] | undefined) ?? [])];
  const envUrls = [env.HUSH_RELAY_PUBLIC_URL, env.HUSH_RELAY_URL]
    .flatMap((v) => (v ? v.split(',') : []))
    .map((u) => u.trim())
    .filter((u) => u !== '');
  const publicUrls = (flagUrls.length > 0 ? flagUrls : envUrls).map((u) => {
    try {
      return canonicalRelayUrl(u);
    } catch (e) {
      throw new UsageError('BAD_FLAG', `--public-url: ${(e as Error).message}`, { hint: 'give a ws:// or wss:// url like wss://relay.example.org or ws://192.168.1.5:7070' });
    }
  });
  if (publicUrls.length > MAX_HELLO_URLS) throw new UsageError('BAD_FLAG', `at most ${MAX_HELLO_URLS} --public-url`, { hint: 'list only the urls clients dial' });
  // --store sqlite:DIR | redis://…: one store; an explicit --data beside a different one is a mistake said at once.
  const storeText = pick('store', 'HUSH_RELAY_STORE');
  const storeHint = 'give --store sqlite:DIR or --store redis://HOST:PORT/DB (and --data only for SQLite)';
  let data = pick('data', 'HUSH_RELAY_DATA') ?? defaultDataDir();
  let redisUrl: string | undefined;
  if (storeText !== undefined) {
    if (storeText.startsWith('sqlite:') && storeText.length > 'sqlite:'.length) {
      const dir = storeText.slice('sqlite:'.length);
      if (values.data !== undefined && values.data !== dir)
        throw new UsageError('BAD_FLAG', `--data ${values.data as string} and --store ${storeText} name two stores`, { hint: storeHint });
      data = dir;
    } else if (/^rediss?:\/\/[^/]/.test(storeText)) {
      if (values.data !== undefined) throw new UsageError('BAD_FLAG', '--data is the SQLite store; this relay stores in Redis (--store redis://…)', { hint: storeHint });
      redisUrl = storeText;
    } else
      throw new UsageError('BAD_FLAG', `--store ${JSON.stringify(storeText.replace(/\/\/[^@/]*@/, '//…@'))} is neither sqlite:DIR nor redis://HOST:PORT/DB`, { hint: storeHint });
  }
  const blobDir = pick('blob-dir', 'HUSH_RELAY_BLOB_DIR');
  if (values['blob-dir'] !== undefined && redisUrl === undefined)
    throw new UsageError('BAD_FLAG', '--blob-dir is for relays on a Redis store; a SQLite relay keeps its blobs in DATA/blobs', {
      hint: 'drop --blob-dir, or give --store redis://HOST:PORT/DB',
    });
  const volatileEnv = env.HUSH_RELAY_REDIS_ALLOW_VOLATILE;
  return {
    host: pick('host', 'HUSH_RELAY_HOST') ?? '127.0.0.1',
    port: Number(portText),
    data,
    redisUrl,
    ...(redisUrl !== undefined && blobDir !== undefined ? { blobDir } : {}),
    redisAllowVolatile: values['redis-allow-volatile'] === true || (volatileEnv !== undefined && volatileEnv !== '' && volatileEnv !== '0'),
    publicUrls,
    limits,
    help: values.help === true,
  };
}

/**
 * Starts the relay from command-line arguments (`argv` excludes node and the script name) and
 * resolves once it listens and has printed its URL; the process then serves until SIGINT or
 * SIGTERM, which shut down gracefully and exit 0. A start-up failure prints
 * `hush-relay: error: …` and `hush-relay: hint: …` and exits 2 (flags, port, host, data
 * directory), 6 (a damaged store) or 1 (unforeseen; HUSH_DEBUG=1 adds the stack).
 */
export async function relayMain(argv: string[]): Promise<void> {
  let relay;
  try {
    const args = parseRelayArgs(argv);
    if (args.help) {
      process.stdout.write(relayUsage());
      return;
    }
    relay = await startRelay({
      host: args.host,
      port: args.port,
      dataDir: args.data,
      redisUrl: args.redisUrl,
      redisAllowVolatile: args.redisAllowVolatile,
      ...(args.blobDir !== undefined ? { blobDir: args.blobDir } : {}),
      publicUrls: args.publicUrls,
      limits: args.limits,
    });
  } catch (e) {
    // Every expected start-up failure (flags, port, host, data directory) is a HushError with
    // its own message and hint; anything else is a bug: one line too, a stack only with HUSH_DEBUG.
    const message = isHushError(e) ? e.message : `the relay failed to start: ${(e as Error).message ?? String(e)}`;
    process.stderr.write(`hush-relay: error: ${message}\n`);
    const hint = isHushError(e) ? e.hint : 'rerun with HUSH_DEBUG=1 for the stack trace';
    if (hint) process.stderr.write(`hush-relay: hint: ${hint}\n`);
    if (process.env.HUSH_DEBUG === '1' && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    process.exit(isHushError(e) ? e.exitCode : ExitCode.internal);
  }
  const stop = (signal: string): void => {
    process.stderr.write(`hush-relay: ${new Date().toISOString()} signal name=${signal}\n`);
    relay.close().then(
      () => process.exit(ExitCode.ok),
      (e: unknown) => {
        process.stderr.write(`hush-relay: error: shutdown failed: ${(e as Error).message}\n`);
        process.exit(ExitCode.internal);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Printed once the signal handlers are in place: whoever reads the URL may signal at once.
  process.stdout.write(relay.url + '\n');
}
