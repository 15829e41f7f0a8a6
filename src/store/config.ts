/**
 * config.json in the hush home:
 * `{"v":1,"relay"?:"wss://…","readReceipts"?:true,"deliveryReceipts"?:true,"receiptDelay"?:"5-60","quarantineLimits"?:"…",
 * "ratchetLimits"?:"…","requireForwardSecrecy"?:false,"signedPrekeyRotation"?:"7d","signedPrekeyGrace"?:"7d","relayFallbacks"?:["wss://…"],"maxGroupMembers"?:100}`.
 * Validated on read (src/protocol/validate.ts); unknown fields are kept on write, so a newer
 * hush's settings survive an older one. A missing file is `{v:1}`. Written atomically, 0600.
 */
import { DataError, isHushError, UsageError } from '../errors.js';
import { canonicalRelayUrl } from '../protocol/frames.js';
import { arr, isObj, obj, optBool, optStr, parseJson, type Obj } from '../protocol/validate.js';
import { atomicWriteFile, readTextIfExists } from './fsutil.js';
import type { HushPaths } from './paths.js';

export const CONFIG_VERSION = 1;
const RELAY_MAX = 2048;
/** Most URLs in relayFallbacks. */
const MAX_FALLBACKS = 8;

export interface Config {
  v: 1;
  relay?: string;
  readReceipts?: boolean;
  /** false: no `delivered` receipts from this home (--no-delivery-receipts). */
  deliveryReceipts?: boolean;
  /** The random wait before a receipt leaves, as --receipt-delay takes it (src/cli/receipt-delay.ts). */
  receiptDelay?: string;
  /** Bounds of the quarantine, as --quarantine-limits takes them (src/cli/quarantine-limits.ts). */
  quarantineLimits?: string;
  /** Bounds of the v2 skipped message keys, as --ratchet-limits takes them (src/cli/ratchet-limits.ts). */
  ratchetLimits?: string;
  /** true: refuse protocol v1 both ways (--require-fs). */
  requireForwardSecrecy?: boolean;
  /** How often the signed prekey is replaced, as --prekey-rotation takes it (default 7d). */
  signedPrekeyRotation?: string;
  /** How long a replaced signed prekey still completes a session after its replacement, never less than to its expiry (default 7d). */
  signedPrekeyGrace?: string;
  /** Other URLs of the deployment `relay` names, dialled in order when it does not answer (src/client/failover.ts). */
  relayFallbacks?: string[];
  /** The group member cap, you included (--max-members wins); range-checked where used (BAD_MAX_MEMBERS). */
  maxGroupMembers?: number;
  /** Fields this version does not know, kept verbatim. */
  extra: Obj;
}

/** Validates a relay URL (ws:// or wss://); `what` names its origin in the error. */
export function checkRelayUrl(url: string, what = '--relay'): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'ws:' && u.protocol !== 'wss:') || url.length > RELAY_MAX) {
    throw new UsageError('BAD_RELAY_URL', `${what} is not a ws:// or wss:// URL: ${url.slice(0, 200)}`, {
      hint: 'for example --relay ws://127.0.0.1:8080',
    });
  }
  // The relay and the auth signature use the canonical form (PROTOCOL.md §7.3): refuse what
  // does not canonicalise here, as a usage error, rather than at connect time.
  try {
    return canonicalRelayUrl(url);
  } catch (e) {
    throw new UsageError('BAD_RELAY_URL', `${what} is not a relay URL hush accepts: ${url.slice(0, 200)} (${isHushError(e) ? e.message : 'invalid'})`, {
      hint: 'write it plainly, e.g. ws://127.0.0.1:8080 or wss://relay.example.org (no user info, query, fragment or dot segments)',
    });
  }
}

export function parseConfig(text: string, file = 'config.json'): Config {
  let root: Obj;
  try {
    root = obj(parseJson(text, 256 * 1024), 'config');
  } catch (err) {
    throw new DataError('CONFIG_CORRUPT', `${file} is not valid (${(err as Error).message})`, { hint: `fix or delete ${file}`, cause: err });
  }
  // Only a whole number can name a newer format; anything else is a damaged file.
  if (!Number.isSafeInteger(root.v)) {
    throw new DataError('CONFIG_CORRUPT', `${file} is not valid (config.v must be ${CONFIG_VERSION})`, { hint: `fix or delete ${file}` });
  }
  if (root.v !== CONFIG_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `config version ${String(root.v)} is not supported`, { hint: 'this config was written by a newer hush; upgrade hush' });
  }
  const {
    v: _v,
    relay: _r,
    readReceipts: _rr,
    deliveryReceipts: _dr,
    receiptDelay: _rd,
    quarantineLimits: _ql,
    ratchetLimits: _rl,
    requireForwardSecrecy: _fs,
    signedPrekeyRotation: _spr,
    signedPrekeyGrace: _spg,
    relayFallbacks: _rf,
    maxGroupMembers: _mgm,
    ...extra
  } = root;
  try {
    const relay = optStr(root, 'relay', 'config', { max: RELAY_MAX, min: 1 });
    const readReceipts = optBool(root, 'readReceipts', 'config');
    const deliveryReceipts = optBool(root, 'deliveryReceipts', 'config');
    const receiptDelay = optStr(root, 'receiptDelay', 'config', { max: 64, min: 1 });
    const quarantineLimits = optStr(root, 'quarantineLimits', 'config', { max: 256, min: 1 });
    const ratchetLimits = optStr(root, 'ratchetLimits', 'config', { max: 256, min: 1 });
    const requireForwardSecrecy = optBool(root, 'requireForwardSecrecy', 'config');
    const signedPrekeyRotation = optStr(root, 'signedPrekeyRotation', 'config', { max: 32, min: 1 });
    const signedPrekeyGrace = optStr(root, 'signedPrekeyGrace', 'config', { max: 32, min: 1 });
    const relayFallbacks =
      root.relayFallbacks === undefined
        ? undefined
        : arr(root, 'relayFallbacks', 'config', MAX_FALLBACKS).map((u, i) => {
            if (typeof u !== 'string' || u.length < 1 || u.length > RELAY_MAX) throw new Error(`config.relayFallbacks[${i}] must be a relay URL`);
            return u;
          });
    const maxGroupMembers = root.maxGroupMembers;
    if (maxGroupMembers !== undefined && typeof maxGroupMembers !== 'number') throw new Error('config.maxGroupMembers: expected a number');
    const cfg: Config = { v: 1, extra };
    if (relayFallbacks !== undefined) cfg.relayFallbacks = relayFallbacks;
    if (maxGroupMembers !== undefined) cfg.maxGroupMembers = maxGroupMembers;
    if (requireForwardSecrecy !== undefined) cfg.requireForwardSecrecy = requireForwardSecrecy;
    if (signedPrekeyRotation !== undefined) cfg.signedPrekeyRotation = signedPrekeyRotation;
    if (signedPrekeyGrace !== undefined) cfg.signedPrekeyGrace = signedPrekeyGrace;
    if (relay !== undefined) cfg.relay = relay;
    if (readReceipts !== undefined) cfg.readReceipts = readReceipts;
    if (deliveryReceipts !== undefined) cfg.deliveryReceipts = deliveryReceipts;
    if (receiptDelay !== undefined) cfg.receiptDelay = receiptDelay;
    if (quarantineLimits !== undefined) cfg.quarantineLimits = quarantineLimits;
    if (ratchetLimits !== undefined) cfg.ratchetLimits = ratchetLimits;
    return cfg;
  } catch (err) {
    throw new DataError('CONFIG_CORRUPT', `${file} is not valid (${(err as Error).message})`, { hint: `fix or delete ${file}`, cause: err });
  }
}

export function configToJson(cfg: Config): string {
  const out: Obj = { ...(isObj(cfg.extra) ? cfg.extra : {}), v: CONFIG_VERSION };
  if (cfg.relay !== undefined) out.relay = cfg.relay;
  if (cfg.readReceipts !== undefined) out.readReceipts = cfg.readReceipts;
  if (cfg.deliveryReceipts !== undefined) out.deliveryReceipts = cfg.deliveryReceipts;
  if (cfg.receiptDelay !== undefined) out.receiptDelay = cfg.receiptDelay;
  if (cfg.quarantineLimits !== undefined) out.quarantineLimits = cfg.quarantineLimits;
  if (cfg.ratchetLimits !== undefined) out.ratchetLimits = cfg.ratchetLimits;
  if (cfg.requireForwardSecrecy !== undefined) out.requireForwardSecrecy = cfg.requireForwardSecrecy;
  if (cfg.signedPrekeyRotation !== undefined) out.signedPrekeyRotation = cfg.signedPrekeyRotation;
  if (cfg.signedPrekeyGrace !== undefined) out.signedPrekeyGrace = cfg.signedPrekeyGrace;
  if (cfg.relayFallbacks !== undefined) out.relayFallbacks = cfg.relayFallbacks;
  if (cfg.maxGroupMembers !== undefined) out.maxGroupMembers = cfg.maxGroupMembers;
  return JSON.stringify(out, null, 2) + '\n';
}

/** Reads config.json; `{v:1, extra:{}}` when it does not exist. */
export async function readConfig(paths: HushPaths): Promise<Config> {
  const text = await readTextIfExists(paths.config, 256 * 1024);
  return text === undefined ? { v: 1, extra: {} } : parseConfig(text, paths.config);
}

export async function writeConfig(paths: HushPaths, cfg: Config): Promise<void> {
  await atomicWriteFile(paths.config, configToJson(cfg), 0o600);
}

/** Read, change, write back (unknown fields kept). Returns the new config. */
export async function updateConfig(paths: HushPaths, change: (cfg: Config) => Config | void): Promise<Config> {
  const cfg = await readConfig(paths);
  const next = change(cfg) ?? cfg;
  await writeConfig(paths, next);
  return next;
}

export type RelaySource = 'flag' | 'env' | 'config';

/**
 * The relay to use: --relay, else HUSH_RELAY, else config.json's relay; undefined when none.
 * The chosen URL is validated (UsageError BAD_RELAY_URL).
 */
export function resolveRelay(flag: string | undefined, env: NodeJS.ProcessEnv, cfg: Config): { url: string; source: RelaySource } | undefined {
  if (flag !== undefined) return { url: checkRelayUrl(flag, '--relay'), source: 'flag' };
  if (env.HUSH_RELAY !== undefined && env.HUSH_RELAY !== '') return { url: checkRelayUrl(env.HUSH_RELAY, 'HUSH_RELAY'), source: 'env' };
  if (cfg.relay !== undefined) return { url: checkRelayUrl(cfg.relay, 'config.json relay'), source: 'config' };
  return undefined;
}
