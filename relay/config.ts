/**
 * Relay settings: every limit with its default, flag, environment variable and error code.
 * docs/PROTOCOL.md §7.7 has the same table; keep them together.
 */
import { DataError } from '../src/errors.js';
import { MAX_ENVELOPE_BYTES } from '../src/protocol/frames.js'; // v1 or v2

export interface RelayLimitsConfig {
  maxFrameBytes: number;
  sendRatePerConn: number;
  sendRatePerIdentity: number;
  frameRatePerConn: number;
  mailboxMaxCount: number;
  mailboxMaxBytes: number;
  ttlMs: number;
  purgeIntervalMs: number;
  maxConnections: number;
  authTimeoutMs: number;
  authSkewMs: number;
  heartbeatMs: number;
  registerPerConn: number;
  renamesPerDay: number;
  namesPerAddrHour: number;
  maxStoreBytes: number;
  minFreeBytes: number;
  ephemeralRatePerPair: number;
  strangerMaxCount: number;
  strangerMaxBytes: number;
  strangerSharePercent: number;
  tokensPerMailbox: number;
  tokenMaxLifetimeMs: number;
  prekeyRatePerConn: number;
  prekeyHandoutsPerHour: number;
  prekeyCap: number;
  blobMaxBytes: number;
  blobQuotaUploaderBytes: number;
  blobQuotaRecipientBytes: number;
  blobTtlMs: number;
  blobWaitMs: number;
  blobChunkBytes: number;
}

type Kind = 'bytes' | 'count' | 'rate' | 'duration' | 'percent';

export interface LimitSpec {
  key: keyof RelayLimitsConfig;
  flag: string;
  env: string;
  kind: Kind;
  def: number;
  min: number;
  /** Largest value accepted (default: none). */
  max?: number;
  code: string;
  what: string;
}

/** Frames must at least hold the largest envelope (base64) plus the send frame around it. */
export const FRAME_BYTES_FOR_MAX_ENVELOPE = Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4 + 1024;

export const LIMITS: readonly LimitSpec[] = [
  {
    key: 'maxFrameBytes',
    flag: 'max-frame',
    env: 'HUSH_RELAY_MAX_FRAME',
    kind: 'bytes',
    def: 128 * 1024,
    min: 1024,
    code: 'TOO_LARGE (close 1009)',
    what: 'largest frame accepted (bytes)',
  },
  { key: 'sendRatePerConn', flag: 'rate-conn', env: 'HUSH_RELAY_RATE_CONN', kind: 'rate', def: 200, min: 1, code: 'RATE_LIMITED', what: 'envelopes per second per connection' },
  {
    key: 'sendRatePerIdentity',
    flag: 'rate-identity',
    env: 'HUSH_RELAY_RATE_IDENTITY',
    kind: 'rate',
    def: 400,
    min: 1,
    code: 'RATE_LIMITED',
    what: 'envelopes per second per identity (all its connections)',
  },
  {
    key: 'frameRatePerConn',
    flag: 'frame-rate',
    env: 'HUSH_RELAY_FRAME_RATE',
    kind: 'rate',
    def: 1000,
    min: 1,
    code: 'RATE_LIMITED',
    what: 'frames of any type per second per connection',
  },
  {
    key: 'mailboxMaxCount',
    flag: 'mailbox-count',
    env: 'HUSH_RELAY_MAILBOX_COUNT',
    kind: 'count',
    def: 10_000,
    min: 1,
    code: 'MAILBOX_FULL',
    what: 'envelopes waiting per recipient',
  },
  {
    key: 'mailboxMaxBytes',
    flag: 'mailbox-bytes',
    env: 'HUSH_RELAY_MAILBOX_BYTES',
    kind: 'bytes',
    def: 64 * 1024 * 1024,
    min: 1024,
    code: 'MAILBOX_FULL',
    what: 'envelope bytes waiting per recipient',
  },
  {
    key: 'ttlMs',
    flag: 'ttl',
    env: 'HUSH_RELAY_TTL',
    kind: 'duration',
    def: 30 * 24 * 3600 * 1000,
    min: 1,
    code: '(purged; never served)',
    what: 'time-to-live of unfetched mail',
  },
  {
    key: 'purgeIntervalMs',
    flag: 'purge-interval',
    env: 'HUSH_RELAY_PURGE_INTERVAL',
    kind: 'duration',
    def: 60_000,
    min: 10,
    code: '-',
    what: 'how often expired mail is deleted',
  },
  {
    key: 'maxConnections',
    flag: 'max-conns',
    env: 'HUSH_RELAY_MAX_CONNS',
    kind: 'count',
    def: 10_000,
    min: 1,
    code: 'TOO_MANY_CONNECTIONS (close 1013)',
    what: 'open WebSocket connections',
  },
  {
    key: 'authTimeoutMs',
    flag: 'auth-timeout',
    env: 'HUSH_RELAY_AUTH_TIMEOUT',
    kind: 'duration',
    def: 10_000,
    min: 10,
    code: 'AUTH_TIMEOUT (close 1008)',
    what: 'time a connection may stay unauthenticated',
  },
  {
    key: 'authSkewMs',
    flag: 'auth-skew',
    env: 'HUSH_RELAY_AUTH_SKEW',
    kind: 'duration',
    def: 5 * 60_000,
    min: 0,
    code: 'AUTH_STALE',
    what: 'largest clock difference accepted in auth',
  },
  {
    key: 'registerPerConn',
    flag: 'register-conn',
    env: 'HUSH_RELAY_REGISTER_CONN',
    kind: 'count',
    def: 10,
    min: 1,
    code: 'REGISTER_LIMITED',
    what: 'register frames per connection',
  },
  {
    key: 'renamesPerDay',
    flag: 'renames-per-day',
    env: 'HUSH_RELAY_RENAMES_PER_DAY',
    kind: 'count',
    def: 5,
    min: 1,
    code: 'REGISTER_LIMITED',
    what: 'name changes per identity in 24 hours',
  },
  {
    key: 'namesPerAddrHour',
    flag: 'names-per-addr',
    env: 'HUSH_RELAY_NAMES_PER_ADDR',
    kind: 'count',
    def: 30,
    min: 1,
    code: 'REGISTER_LIMITED',
    what: 'new names claimed per remote address (IPv6: per /64) in one hour',
  },
  {
    key: 'maxStoreBytes',
    flag: 'max-store-bytes',
    env: 'HUSH_RELAY_MAX_STORE_BYTES',
    kind: 'bytes',
    def: 4 * 1024 * 1024 * 1024,
    min: 1024,
    code: 'STORE_FULL',
    what: 'envelope bytes stored over all mailboxes',
  },
  {
    key: 'minFreeBytes',
    flag: 'min-free',
    env: 'HUSH_RELAY_MIN_FREE',
    kind: 'bytes',
    def: 256 * 1024 * 1024,
    min: 0,
    code: 'STORE_FULL',
    what: "free space kept on the data directory's file system",
  },
  {
    key: 'ephemeralRatePerPair',
    flag: 'ephemeral-rate',
    env: 'HUSH_RELAY_EPHEMERAL_RATE',
    kind: 'rate',
    def: 2,
    min: 1,
    code: 'RATE_LIMITED',
    what: 'ephemeral (typing) envelopes per second per sender and recipient',
  },
  {
    key: 'strangerMaxCount',
    flag: 'stranger-count',
    env: 'HUSH_RELAY_STRANGER_COUNT',
    kind: 'count',
    def: 1000,
    min: 1,
    code: 'STRANGER_QUOTA',
    what: 'envelopes waiting per (identified sender, recipient) pair: sends without a delivery token',
  },
  {
    key: 'strangerMaxBytes',
    flag: 'stranger-bytes',
    env: 'HUSH_RELAY_STRANGER_BYTES',
    kind: 'bytes',
    def: 16 * 1024 * 1024,
    min: 1024,
    code: 'STRANGER_QUOTA',
    what: 'envelope bytes waiting per (identified sender, recipient) pair',
  },
  {
    key: 'strangerSharePercent',
    flag: 'stranger-share',
    env: 'HUSH_RELAY_STRANGER_SHARE',
    kind: 'percent',
    def: 50,
    min: 1,
    max: 100,
    code: 'STRANGER_QUOTA',
    what: 'percent of --mailbox-count and --mailbox-bytes that identified sends, all senders together, may fill in one mailbox',
  },
  {
    key: 'tokensPerMailbox',
    flag: 'tokens-per-mailbox',
    env: 'HUSH_RELAY_TOKENS_PER_MAILBOX',
    kind: 'count',
    def: 10_000,
    min: 1,
    code: 'TOO_MANY_TOKENS',
    what: 'unexpired delivery tokens registered per mailbox',
  },
  {
    key: 'tokenMaxLifetimeMs',
    flag: 'token-max-lifetime',
    env: 'HUSH_RELAY_TOKEN_MAX_LIFETIME',
    kind: 'duration',
    def: 90 * 24 * 3600 * 1000,
    min: 1000,
    code: '(expiry clamped)',
    what: 'longest a registered delivery token stays valid',
  },
  {
    key: 'prekeyRatePerConn',
    flag: 'prekey-rate',
    env: 'HUSH_RELAY_PREKEY_RATE',
    kind: 'rate',
    def: 10,
    min: 1,
    code: 'RATE_LIMITED',
    what: 'prekeys and fetch-prekeys frames per second per connection',
  },
  {
    key: 'prekeyHandoutsPerHour',
    flag: 'prekey-handouts',
    env: 'HUSH_RELAY_PREKEY_HANDOUTS',
    kind: 'count',
    def: 100,
    min: 1,
    code: '(bundles without one-time keys)',
    what: 'bundles per identity per hour that carry its one-time prekeys; later ones carry none (the last-resort KEM prekey, no OPK) until the hour rolls on',
  },
  {
    key: 'prekeyCap',
    flag: 'prekey-cap',
    env: 'HUSH_RELAY_PREKEY_CAP',
    kind: 'count',
    def: 200,
    min: 1,
    code: 'TOO_MANY_PREKEYS',
    what: 'one-time X25519 prekeys, and one-time ML-KEM prekeys, stored per identity (each)',
  },
  {
    key: 'blobMaxBytes',
    flag: 'blob-max',
    env: 'HUSH_RELAY_BLOB_MAX',
    kind: 'bytes',
    def: 1024 ** 3 + 16 * 16384,
    min: 1024,
    code: 'BLOB_TOO_LARGE',
    what: 'largest blob (sealed bytes: a 1 GiB file and its chunk tags)',
  },
  {
    key: 'blobQuotaUploaderBytes',
    flag: 'blob-quota-uploader',
    env: 'HUSH_RELAY_BLOB_QUOTA_UPLOADER',
    kind: 'bytes',
    def: 4 * 1024 ** 3,
    min: 1024,
    code: 'BLOB_QUOTA',
    what: 'blob bytes stored per uploader (unexpired, not yet acked by all)',
  },
  {
    key: 'blobQuotaRecipientBytes',
    flag: 'blob-quota-recipient',
    env: 'HUSH_RELAY_BLOB_QUOTA_RECIPIENT',
    kind: 'bytes',
    def: 4 * 1024 ** 3,
    min: 1024,
    code: 'BLOB_QUOTA',
    what: 'blob bytes waiting per recipient (not yet acked by that recipient)',
  },
  {
    key: 'blobTtlMs',
    flag: 'blob-ttl',
    env: 'HUSH_RELAY_BLOB_TTL',
    kind: 'duration',
    def: 7 * 24 * 3600 * 1000,
    min: 1000,
    code: 'NOT_FOUND (deleted)',
    what: 'time-to-live of a blob, from its blob-begin',
  },
  {
    key: 'blobWaitMs',
    flag: 'blob-wait',
    env: 'HUSH_RELAY_BLOB_WAIT',
    kind: 'duration',
    def: 30 * 1000,
    min: 1000,
    code: 'BLOB_INCOMPLETE',
    what: 'how long a blob-get of a chunk not yet uploaded waits for it (a blob still being uploaded)',
  },
  {
    key: 'blobChunkBytes',
    flag: 'blob-chunk',
    env: 'HUSH_RELAY_BLOB_CHUNK',
    kind: 'bytes',
    def: 1024 * 1024,
    min: 64 * 1024,
    max: 1024 * 1024,
    code: 'BLOB_TOO_LARGE',
    what: 'largest plaintext chunk of a blob (its sealed chunk is 16 bytes more; binary frames carry it, over --max-frame when larger)',
  },
  {
    key: 'heartbeatMs',
    flag: 'heartbeat',
    env: 'HUSH_RELAY_HEARTBEAT',
    kind: 'duration',
    def: 30_000,
    min: 10,
    code: '(close: terminated)',
    what: 'ping interval; a socket silent for two intervals is dropped',
  },
];

export const DEFAULT_LIMITS: RelayLimitsConfig = Object.fromEntries(LIMITS.map((l) => [l.key, l.def])) as unknown as RelayLimitsConfig;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4 };

/** Parses a limit value: durations like `500ms`, `10s`, `7d` (bare numbers are seconds); sizes like `64k`, `2m`, `4g`. */
export function parseLimitValue(spec: LimitSpec, text: string): number {
  const bad = (): never => {
    throw new DataError('BAD_LIMIT', `--${spec.flag} ${JSON.stringify(text)} is not a valid ${spec.kind}`, { hint: `see hush-relay --help` });
  };
  const t = text.trim().toLowerCase();
  let n: number;
  if (spec.kind === 'duration') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(t);
    if (!m) return bad();
    n = Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
  } else if (spec.kind === 'bytes') {
    const m = /^(\d+)(b|k|kib|m|mib|g|gib|t|tib)?$/.exec(t);
    if (!m) return bad();
    n = Number(m[1]) * SIZE_UNITS[m[2] ?? '']!;
  } else {
    const m = (spec.kind === 'percent' ? /^(\d+)%?$/ : /^(\d+)$/).exec(t);
    if (!m) return bad();
    n = Number(m[1]);
  }
  if (!Number.isSafeInteger(n) || n < spec.min) {
    throw new DataError('BAD_LIMIT', `--${spec.flag} must be at least ${spec.min}`, { hint: 'see hush-relay --help' });
  }
  if (spec.max !== undefined && n > spec.max) throw new DataError('BAD_LIMIT', `--${spec.flag} must be at most ${spec.max}`, { hint: 'see hush-relay --help' });
  return n;
}
