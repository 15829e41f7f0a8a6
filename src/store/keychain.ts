/**
 * The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows)
 * through keytar, an OPTIONAL dependency. `hush unlock --remember` stores the Argon2id
 * WRAPPING KEY of a home's keyring here (never the passphrase), so later commands open the
 * keyring without a prompt and without running Argon2; `hush lock` removes it.
 *
 * Entry: service "hush", account = the absolute, symlink-resolved home path (two homes, two
 * entries). Secret: one line of JSON, version 2 (docs/PROTOCOL.md "OS keychain entry"):
 *
 *   {"v":2,"key":B64(32 bytes: the wrapping key),"salt":B64(16 bytes: keyring.json kdf.salt),
 *    "expires":ms since the epoch}
 *
 * An entry is used only before `expires` (`hush unlock --remember --for`, default 7 days);
 * once it has passed, the entry is deleted on the lookup that finds it. A version-1 entry
 * (no lifetime: written before lifetimes existed) counts as expired.
 *
 * The salt says which wrap the key belongs to: after `hush passwd` (elsewhere) the keyring has
 * a new salt, and a stale entry is recognised without even trying it.
 *
 * Nothing here throws for an absent or silent keychain: keytar missing, no D-Bus session, no
 * Secret Service, or a call that does not answer within the timeout all give a typed
 * `{status: 'unavailable', reason}` result, so the CLI prints one hint and falls back to the
 * other passphrase sources. Every keytar call runs in a short-lived child process
 * (./keychain-worker.ts) that is killed when it does not answer within HUSH_KEYCHAIN_TIMEOUT_MS
 * (default 5 s): a hung D-Bus must not hang hush, and keytar's native calls cannot be
 * cancelled in-process. Once the keychain was found unavailable, this process does not ask
 * it again.
 * HUSH_NO_KEYCHAIN=1 turns the keychain off (it is then "unavailable" with that reason).
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toB64 } from '../protocol/encoding.js';
import { b64, int, literal, obj, parseJson } from '../protocol/validate.js';

export const KEYCHAIN_SERVICE = 'hush';
export const KEYCHAIN_ENTRY_VERSION = 2;
/** How long `hush unlock --remember` keeps the key when --for is not given (ms). */
export const DEFAULT_REMEMBER_MS = 7 * 86_400_000;
/** How long one keychain call may take before it counts as "no keychain answered". */
export const KEYCHAIN_TIMEOUT_MS = 5000;

export interface KeychainUnavailable {
  status: 'unavailable';
  /** Lowercase, no final period; says why (keytar missing, no D-Bus session, timeout, ...). */
  reason: string;
  /**
   * true when a passive lookup was skipped because this (Linux/BSD) process has no D-Bus
   * session bus at all (ssh, CI, containers): nobody can have a keychain entry here, so the
   * CLI stays quiet instead of hinting on every command.
   */
  noSession?: boolean;
}

export type RememberedLookup =
  | { status: 'found'; key: Uint8Array; salt: Uint8Array; expires: number }
  | { status: 'none' }
  /** The entry's lifetime had passed (or it had none: version 1): it has been deleted. */
  | { status: 'expired' }
  /** An entry exists but is not a valid entry (treated like a stale one). */
  | { status: 'invalid'; reason: string }
  | KeychainUnavailable;

export type RememberResult = { status: 'stored' } | KeychainUnavailable;
export type ForgetResult = { status: 'removed' } | { status: 'none' } | KeychainUnavailable;
export type ProbeResult = { status: 'available' } | KeychainUnavailable;

export interface KeychainOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * A lookup hush makes on its own (not asked for by the user): skipped, without starting a
   * worker, when there is no D-Bus session bus (see sessionBusMissing).
   */
  passive?: boolean;
  /** Default: HUSH_KEYCHAIN_TIMEOUT_MS, else KEYCHAIN_TIMEOUT_MS. */
  timeoutMs?: number;
}

type Op = { op: 'get' } | { op: 'set'; secret: string } | { op: 'delete' };
type CallResult<T> = { ok: true; value: T } | KeychainUnavailable;

/** Set once a call failed: later calls in this process answer "unavailable" at once. */
let deadReason: string | undefined;

function unavailable(reason: string): KeychainUnavailable {
  return { status: 'unavailable', reason };
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n')[0] ?? '';
  const trimmed = line.trim().replace(/\.$/, '');
  return trimmed.length > 160 ? trimmed.slice(0, 157) + '...' : trimmed || 'unknown error';
}

function timeoutMs(opts: KeychainOptions, env: NodeJS.ProcessEnv): number {
  if (opts.timeoutMs !== undefined) return opts.timeoutMs;
  const n = Number(env.HUSH_KEYCHAIN_TIMEOUT_MS);
  return Number.isSafeInteger(n) && n > 0 && n <= 600_000 ? n : KEYCHAIN_TIMEOUT_MS;
}

const WORKER = fileURLToPath(new URL('./keychain-worker.js', import.meta.url));

/**
 * Runs one keytar call in a child process (src/store/keychain-worker.ts) and kills it when it
 * does not answer within the timeout, so neither a hung D-Bus nor a crash in the native module
 * can hang or crash hush.
 */
function runWorker(req: Record<string, unknown>, env: NodeJS.ProcessEnv, ms: number): Promise<CallResult<unknown>> {
  return new Promise((res) => {
    let done = false;
    let out = '';
    let err = '';
    const finish = (r: CallResult<unknown>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      res(r);
    };
    const child = spawn(process.execPath, [WORKER], { env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const timer = setTimeout(() => finish(unavailable(`the keychain did not answer within ${ms / 1000} s`)), ms);
    timer.unref();
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.length > 64 * 1024) finish(unavailable('the keychain worker answered too much'));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 4096) err += d;
    });
    child.on('error', (e) => finish(unavailable(`the keychain worker could not start (${oneLine(e)})`)));
    child.on('close', (code) => {
      const line = out.split('\n')[0] ?? '';
      let r: unknown;
      try {
        r = JSON.parse(line);
      } catch {
        finish(unavailable(`the keychain worker failed (exit ${String(code)}${err ? `: ${oneLine(err)}` : ''})`));
        return;
      }
      const o = r as { ok?: unknown; value?: unknown; kind?: unknown; message?: unknown };
      if (o.ok === true) finish({ ok: true, value: o.value });
      else if (o.kind === 'missing') finish(unavailable(`keytar is not installed (${oneLine(o.message)})`));
      else finish(unavailable(`no keychain answered (${oneLine(o.message)})`));
    });
    child.stdin.on('error', () => undefined); // a dead child is reported by 'close'
    child.stdin.end(JSON.stringify(req));
  });
}

/**
 * On Linux and the BSDs the Secret Service lives on the D-Bus session bus. With neither
 * DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR/bus there is no session bus to ask.
 */
export function sessionBusMissing(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform === 'darwin' || process.platform === 'win32') return false;
  if (env.DBUS_SESSION_BUS_ADDRESS) return false;
  return !(env.XDG_RUNTIME_DIR && existsSync(join(env.XDG_RUNTIME_DIR, 'bus')));
}

async function call(home: string | undefined, op: Op, opts: KeychainOptions): Promise<CallResult<unknown>> {
  const env = opts.env ?? process.env;
  if (env.HUSH_NO_KEYCHAIN === '1') return unavailable('the keychain is turned off (HUSH_NO_KEYCHAIN=1)');
  if (opts.passive && sessionBusMissing(env)) {
    return { ...unavailable('there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)'), noSession: true };
  }
  if (deadReason !== undefined) return unavailable(deadReason);
  // Real accounts are absolute paths, so the probe's account never names a home.
  const account = home === undefined ? 'probe' : keychainAccount(home);
  const r = await runWorker({ ...op, service: KEYCHAIN_SERVICE, account }, env, timeoutMs(opts, env));
  if ('status' in r) deadReason = r.reason;
  return r;
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

export function encodeKeychainEntry(key: Uint8Array, salt: Uint8Array, expires: number): string {
  if (key.length !== 32) throw new RangeError('keychain entry: key must be 32 bytes');
  if (salt.length !== 16) throw new RangeError('keychain entry: salt must be 16 bytes');
  if (!Number.isSafeInteger(expires) || expires < 0) throw new RangeError('keychain entry: expires must be ms since the epoch');
  return JSON.stringify({ v: KEYCHAIN_ENTRY_VERSION, key: toB64(key), salt: toB64(salt), expires });
}

/**
 * Parses a stored secret; throws (BAD_SHAPE, BAD_JSON, ...) when it is not an entry. A version-1 entry (no lifetime) comes back with `expires: 0`: already expired.
 */
export function decodeKeychainEntry(text: string): { key: Uint8Array; salt: Uint8Array; expires: number } {
  const root = obj(parseJson(text, 1024, 2), 'keychain entry');
  const v = literal(root, 'v', 'keychain entry', [1, KEYCHAIN_ENTRY_VERSION] as const);
  const key = b64(root, 'key', 'keychain entry', { len: 32 });
  const salt = b64(root, 'salt', 'keychain entry', { len: 16 });
  if (v === 1) return { key, salt, expires: 0 };
  return { key, salt, expires: int(root, 'expires', 'keychain entry', 0, Number.MAX_SAFE_INTEGER) };
}

/**
 * The remembered wrapping key of `home`, if any and not expired. An expired entry is deleted
 * here (`{status: 'expired'}`); `now` is the clock to judge it by.
 */
export async function getRemembered(home: string, opts: KeychainOptions & { now?: number } = {}): Promise<RememberedLookup> {
  const r = await call(home, { op: 'get' }, opts);
  if ('status' in r) return r;
  if (r.value === null || r.value === undefined) return { status: 'none' };
  let entry: { key: Uint8Array; salt: Uint8Array; expires: number };
  try {
    if (typeof r.value !== 'string') throw new TypeError('keychain entry is not text');
    entry = decodeKeychainEntry(r.value);
  } catch (e) {
    return { status: 'invalid', reason: oneLine(e) };
  }
  if (entry.expires <= (opts.now ?? Date.now())) {
    entry.key.fill(0);
    await call(home, { op: 'delete' }, opts);
    return { status: 'expired' };
  }
  return { status: 'found', ...entry };
}

/**
 * Stores (or replaces) the wrapping key of `home`, tagged with the keyring's KDF salt, until
 * `expires` (ms since the epoch).
 */
export async function remember(home: string, key: Uint8Array, salt: Uint8Array, expires: number, opts: KeychainOptions = {}): Promise<RememberResult> {
  const secret = encodeKeychainEntry(key, salt, expires);
  const r = await call(home, { op: 'set', secret }, opts);
  return 'status' in r ? r : { status: 'stored' };
}

/** Removes the entry of `home`; says whether there was one. */
export async function forget(home: string, opts: KeychainOptions = {}): Promise<ForgetResult> {
  const r = await call(home, { op: 'delete' }, opts);
  if ('status' in r) return r;
  return r.value === true ? { status: 'removed' } : { status: 'none' };
}

/** Whether a keychain answers here (a harmless lookup of an account that never exists). */
export async function probeKeychain(opts: KeychainOptions = {}): Promise<ProbeResult> {
  const r = await call(undefined, { op: 'get' }, opts);
  return 'status' in r ? r : { status: 'available' };
}

/** For tests: forget the cached "unavailable" verdict. */
export function resetKeychainForTests(): void {
  deadReason = undefined;
}
