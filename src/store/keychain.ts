/**
 * The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows)
 * through keytar, an OPTIONAL dependency. `hush unlock --remember` stores the Argon2id
 * WRAPPING KEY of a home's keyring here (never the passphrase), so later commands open the
 * keyring without a prompt and without running Argon2; `hush lock` removes it.
 *
 * Entry: service "hush", account = the absolute, symlink-resolved home path (two homes, two
 * entries). Secret: one line of JSON, version 1 (docs/PROTOCOL.md §Keychain entry):
 *
 *   {"v":1,"key":B64(32 bytes: the wrapping key),"salt":B64(16 bytes: keyring.json kdf.salt)}
 *
 * The salt says which wrap the key belongs to: after `hush passwd` (elsewhere) the keyring has
 * a new salt, and a stale entry is recognised without even trying it.
 *
 * Nothing here throws for an absent or silent keychain: keytar missing, no D-Bus session, no
 * Secret Service, or a call that does not answer within the timeout all give a typed
 * `{status: 'unavailable', reason}` result, so the CLI prints one hint and falls back to the
 * other passphrase sources. Every keytar call is guarded by a timeout (a hung D-Bus must not
 * hang hush). Once the keychain was found unavailable, this process does not ask it again.
 * HUSH_NO_KEYCHAIN=1 turns the keychain off (it is then "unavailable" with that reason).
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { toB64 } from '../protocol/encoding.js';
import { b64, literal, obj, parseJson } from '../protocol/validate.js';

export const KEYCHAIN_SERVICE = 'hush';
export const KEYCHAIN_ENTRY_VERSION = 1;
/** How long one keychain call may take before it counts as "no keychain answered". */
export const KEYCHAIN_TIMEOUT_MS = 5000;

export interface KeychainUnavailable {
  status: 'unavailable';
  /** Lowercase, no final period; says why (keytar missing, no D-Bus session, timeout, ...). */
  reason: string;
}

export type RememberedLookup =
  | { status: 'found'; key: Uint8Array; salt: Uint8Array }
  | { status: 'none' }
  /** An entry exists but is not a valid version-1 entry (treated like a stale one). */
  | { status: 'invalid'; reason: string }
  | KeychainUnavailable;

export type RememberResult = { status: 'stored' } | KeychainUnavailable;
export type ForgetResult = { status: 'removed' } | { status: 'none' } | KeychainUnavailable;
export type ProbeResult = { status: 'available' } | KeychainUnavailable;

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export interface KeychainOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

let keytarPromise: Promise<Keytar | KeychainUnavailable> | undefined;
/** Set once a call failed: later calls in this process answer "unavailable" at once. */
let deadReason: string | undefined;

function unavailable(reason: string): KeychainUnavailable {
  return { status: 'unavailable', reason };
}

function loadKeytar(): Promise<Keytar | KeychainUnavailable> {
  keytarPromise ??= (async () => {
    try {
      // A variable specifier keeps TypeScript from requiring keytar's types at build time.
      const name = 'keytar';
      const mod = (await import(name)) as { default?: Keytar } & Partial<Keytar>;
      const k = (mod.default ?? mod) as Partial<Keytar>;
      if (typeof k.getPassword !== 'function' || typeof k.setPassword !== 'function' || typeof k.deletePassword !== 'function') {
        return unavailable('the keytar module is not usable');
      }
      return k as Keytar;
    } catch (e) {
      return unavailable(`keytar is not installed (${oneLine(e)})`);
    }
  })();
  return keytarPromise;
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n')[0] ?? '';
  const trimmed = line.trim().replace(/\.$/, '');
  return trimmed.length > 160 ? trimmed.slice(0, 157) + '...' : trimmed || 'unknown error';
}

/**
 * Runs one keytar call with a timeout. The timer is unref'd so it never keeps the process
 * alive; a call that never answers is abandoned (its result ignored).
 */
async function call<T>(opts: KeychainOptions, fn: (k: Keytar) => Promise<T>): Promise<{ ok: true; value: T } | KeychainUnavailable> {
  const env = opts.env ?? process.env;
  if (env.HUSH_NO_KEYCHAIN === '1') return unavailable('the keychain is turned off (HUSH_NO_KEYCHAIN=1)');
  if (deadReason !== undefined) return unavailable(deadReason);
  const k = await loadKeytar();
  if ('status' in k) {
    deadReason = k.reason;
    return k;
  }
  const ms = opts.timeoutMs ?? KEYCHAIN_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<KeychainUnavailable>((res) => {
    timer = setTimeout(() => res(unavailable(`the keychain did not answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  try {
    const r = await Promise.race([fn(k).then((value) => ({ ok: true as const, value })), timeout]);
    if ('status' in r) deadReason = r.reason;
    return r;
  } catch (e) {
    deadReason = `no keychain answered (${oneLine(e)})`;
    return unavailable(deadReason);
  } finally {
    clearTimeout(timer);
  }
}

/** The keychain account for a home: its absolute path, symlinks resolved when it exists. */
export function keychainAccount(home: string): string {
  const abs = resolve(home);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

export function encodeKeychainEntry(key: Uint8Array, salt: Uint8Array): string {
  if (key.length !== 32) throw new RangeError('keychain entry: key must be 32 bytes');
  if (salt.length !== 16) throw new RangeError('keychain entry: salt must be 16 bytes');
  return JSON.stringify({ v: KEYCHAIN_ENTRY_VERSION, key: toB64(key), salt: toB64(salt) });
}

/** Parses a stored secret; throws DataError (BAD_SHAPE, BAD_JSON, ...) when it is not a v1 entry. */
export function decodeKeychainEntry(text: string): { key: Uint8Array; salt: Uint8Array } {
  const root = obj(parseJson(text, 1024, 2), 'keychain entry');
  literal(root, 'v', 'keychain entry', [KEYCHAIN_ENTRY_VERSION] as const);
  return { key: b64(root, 'key', 'keychain entry', { len: 32 }), salt: b64(root, 'salt', 'keychain entry', { len: 16 }) };
}

/** The remembered wrapping key of `home`, if any. */
export async function getRemembered(home: string, opts: KeychainOptions = {}): Promise<RememberedLookup> {
  const r = await call(opts, (k) => k.getPassword(KEYCHAIN_SERVICE, keychainAccount(home)));
  if ('status' in r) return r;
  if (r.value === null) return { status: 'none' };
  try {
    return { status: 'found', ...decodeKeychainEntry(r.value) };
  } catch (e) {
    return { status: 'invalid', reason: oneLine(e) };
  }
}

/** Stores (or replaces) the wrapping key of `home`, tagged with the keyring's KDF salt. */
export async function remember(home: string, key: Uint8Array, salt: Uint8Array, opts: KeychainOptions = {}): Promise<RememberResult> {
  const secret = encodeKeychainEntry(key, salt);
  const r = await call(opts, (k) => k.setPassword(KEYCHAIN_SERVICE, keychainAccount(home), secret));
  return 'status' in r ? r : { status: 'stored' };
}

/** Removes the entry of `home`; says whether there was one. */
export async function forget(home: string, opts: KeychainOptions = {}): Promise<ForgetResult> {
  const r = await call(opts, (k) => k.deletePassword(KEYCHAIN_SERVICE, keychainAccount(home)));
  if ('status' in r) return r;
  return r.value ? { status: 'removed' } : { status: 'none' };
}

/** Whether a keychain answers here (a harmless lookup of an account that never exists). */
export async function probeKeychain(opts: KeychainOptions = {}): Promise<ProbeResult> {
  // Real accounts are absolute paths, so this one never names a home.
  const r = await call(opts, (k) => k.getPassword(KEYCHAIN_SERVICE, 'probe'));
  return 'status' in r ? r : { status: 'available' };
}

/** For tests: forget the cached keytar module and "unavailable" verdict. */
export function resetKeychainForTests(): void {
  keytarPromise = undefined;
  deadReason = undefined;
}
