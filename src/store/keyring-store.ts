/**
 * keyring.json on disk: create, read the clear header, unlock, re-wrap (passwd).
 * Formats and crypto: src/protocol/keyring-file.ts, src/crypto/keyring.ts, docs/PROTOCOL.md §6.
 *
 * Errors: no keyring -> UsageError NO_KEYRING (hint: run hush init); an existing keyring on
 * create without force -> UsageError KEYRING_EXISTS; unreadable/invalid JSON or fields ->
 * DataError KEYRING_CORRUPT; newer version -> DataError UNSUPPORTED_VERSION; KDF parameters
 * out of bounds -> DataError KDF_PARAMS_REFUSED (before any passphrase is asked or Argon2
 * runs); wrong passphrase or tampered header -> PassphraseError WRONG_PASSPHRASE; group/other
 * access -> UsageError KEYRING_PERMISSIONS.
 */
import { promises as fsp } from 'node:fs';
import { DataError, isHushError, PassphraseError, UsageError } from '../errors.js';
import { checkKdfParams, deriveWrappingKey, openKeyring, rewrapKeyring, sealKeyring } from '../crypto/keyring.js';
import { generateIdentity, type Identity, wipeIdentity } from '../crypto/identity.js';
import { randomBytes, wipe } from '../crypto/nacl.js';
import { isValidName } from '../protocol/names.js';
import { KEYRING_TYPE, KEYRING_VERSION, type KeyringFile, type KeyringHeader, keyringToJson, parseKeyring } from '../protocol/keyring-file.js';
import { atomicWriteFile, fsError } from './fsutil.js';
import { argon2idKdf, newKdfParams } from './kdf.js';
import {
  keychainWrappingKey,
  type Passphrase,
  passphraseFromSources,
  type PassphraseOptions,
  type PassphraseSource,
  promptUntilOpen,
  refuseEmptyGiven,
  wrongFromSource,
} from './passphrase.js';
import { checkKeyringMode, type HushPaths } from './paths.js';

/** Wraps a slow step (Argon2) so the CLI can show a spinner; the store itself never prints. */
export type Progress = <T>(label: string, fn: () => Promise<T>) => Promise<T>;
const noProgress: Progress = (_label, fn) => fn();

export interface Unlocked {
  identity: Identity;
  /** The random key that seals the secrets; what passwd re-wraps. */
  dataKey: Uint8Array;
  /** Argon2id(passphrase, header.kdf): what the keychain stores. */
  wrappingKey: Uint8Array;
  file: KeyringFile;
  source: PassphraseSource;
}

export async function keyringExists(paths: HushPaths): Promise<boolean> {
  try {
    await fsp.lstat(paths.keyring);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError(err, 'read', paths.keyring);
  }
}

function noKeyring(paths: HushPaths): UsageError {
  return new UsageError('NO_KEYRING', `no keyring in ${paths.home}`, { hint: 'run hush init, or point --home / HUSH_HOME at your hush home' });
}

/**
 * Reads and validates keyring.json (no passphrase needed): the header is what `whoami` shows.
 * Checks the file mode first.
 */
export async function readKeyringFile(paths: HushPaths): Promise<KeyringFile> {
  let text: string;
  try {
    text = await fsp.readFile(paths.keyring, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noKeyring(paths);
    throw fsError(err, 'read', paths.keyring);
  }
  await checkKeyringMode(paths.keyring);
  try {
    return parseKeyring(text);
  } catch (err) {
    if (isHushError(err) && err.code !== 'UNSUPPORTED_VERSION') {
      throw new DataError('KEYRING_CORRUPT', `the keyring ${paths.keyring} is corrupted or tampered with (${err.message})`, {
        hint: 'restore keyring.json from a backup, or run hush init --force to start over (the old identity is lost)',
        cause: err,
      });
    }
    throw err;
  }
}

/** Alias: the clear header is all of the file that needs no passphrase. */
export const readHeader = readKeyringFile;

export interface CreateOptions {
  name: string;
  passphrase: Uint8Array;
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  /** ms since the epoch; default Date.now() */
  now?: number;
  progress?: Progress;
  /** With force: told which old files were set aside (see setAsideOldIdentity). */
  onSetAside?: (paths: string[]) => void;
}

/**
 * `init --force` replaces an identity, but loses nothing: the old keyring is copied to
 * `keyring.json.replaced-<ms>` (it still opens with the old passphrase) and the old local store,
 * sealed under the old history key, is renamed to `hush.db.replaced-<ms>` (with its -wal/-shm),
 * so the new identity starts with an empty store instead of one it cannot open.
 * Returns the paths it wrote.
 */
export async function setAsideOldIdentity(paths: HushPaths, stamp: number): Promise<string[]> {
  const moved: string[] = [];
  try {
    if (await keyringExists(paths)) {
      const dest = `${paths.keyring}.replaced-${stamp}`;
      await fsp.copyFile(paths.keyring, dest);
      await fsp.chmod(dest, 0o600);
      moved.push(dest);
    }
    for (const suffix of ['', '-wal', '-shm']) {
      const from = paths.db + suffix;
      const to = `${paths.db}.replaced-${stamp}${suffix}`;
      try {
        await fsp.rename(from, to);
        if (suffix === '') moved.push(to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  } catch (err) {
    throw isHushError(err) ? err : fsError(err, 'write', paths.home);
  }
  return moved;
}

/** Refuses early (before a passphrase is asked) when init would overwrite a keyring. */
export async function assertCanCreate(paths: HushPaths, force = false): Promise<void> {
  if (!force && (await keyringExists(paths))) {
    throw new UsageError('KEYRING_EXISTS', `a keyring already exists in ${paths.home}`, {
      hint: 'use hush init --force to replace it (the old identity is lost), or choose another --home',
    });
  }
}

/** init: a new identity sealed under `passphrase`, written atomically (mode 0600). */
export async function createKeyring(paths: HushPaths, opts: CreateOptions): Promise<KeyringFile> {
  if (!isValidName(opts.name)) {
    throw new UsageError('BAD_NAME', `invalid name "${opts.name}"`, { hint: 'use 1-32 characters a-z, 0-9, ".", "_" or "-", starting with a letter or digit' });
  }
  await assertCanCreate(paths, opts.force);
  const kdf = newKdfParams(opts.env);
  const identity = generateIdentity(randomBytes);
  const header: KeyringHeader = {
    type: KEYRING_TYPE,
    v: KEYRING_VERSION,
    name: opts.name,
    created: opts.now ?? Date.now(),
    signPk: identity.signPk,
    boxPk: identity.boxPk,
    kdf,
  };
  const progress = opts.progress ?? noProgress;
  const wk = await progress('deriving the key (Argon2id)', () => deriveWrappingKey(argon2idKdf, opts.passphrase, kdf));
  try {
    const file = sealKeyring(header, identity, wk, randomBytes);
    if (opts.force) opts.onSetAside?.(await setAsideOldIdentity(paths, header.created));
    await atomicWriteFile(paths.keyring, keyringToJson(file), 0o600);
    return file;
  } finally {
    wipe(wk);
    wipeIdentity(identity);
  }
}

/** Opens `file` with a wrapping key (e.g. from the keychain), skipping Argon2. */
export function unlockWithWrappingKey(file: KeyringFile, wrappingKey: Uint8Array, source: PassphraseSource = 'keychain'): Unlocked {
  const { identity, dataKey } = openKeyring(file, wrappingKey);
  return { identity, dataKey, wrappingKey, file, source };
}

/** Derives the wrapping key from `passphrase` (Argon2id, header parameters) and opens `file`. */
/** What the spinner says while the key is derived (on a terminal). */
export const UNLOCK_LABEL = 'unlocking the keyring (Argon2id)';

export async function unlockWithPassphrase(file: KeyringFile, passphrase: Passphrase, progress: Progress = noProgress): Promise<Unlocked> {
  refuseEmptyGiven(passphrase);
  const wk = await progress(UNLOCK_LABEL, () => deriveWrappingKey(argon2idKdf, passphrase.bytes, file.kdf));
  try {
    return unlockWithWrappingKey(file, wk, passphrase.source);
  } catch (err) {
    wipe(wk);
    // Name the source that was used, not all of them (the prompt says more in promptUntilOpen).
    if (err instanceof PassphraseError && err.code === 'WRONG_PASSPHRASE' && passphrase.source !== 'prompt') throw wrongFromSource(err, passphrase.source);
    throw err;
  }
}

export interface UnlockOptions extends PassphraseOptions {
  progress?: Progress;
}

/**
 * Reads and opens the keyring, taking the passphrase from the sources in order (see
 * passphrase.ts): file, fd, HUSH_PASSPHRASE, keychain (a stale keychain key falls through to
 * the prompt), prompt. KDF bounds are checked before any source is consulted.
 */
export async function unlock(paths: HushPaths, opts: UnlockOptions = {}): Promise<Unlocked> {
  const file = await readKeyringFile(paths);
  checkKdfParams(file.kdf);
  const given = passphraseFromSources(opts);
  if (given) return unlockWithPassphrase(file, given, opts.progress);
  const key = await keychainWrappingKey({ home: paths.home, file });
  if (key) {
    try {
      return unlockWithWrappingKey(file, key, 'keychain');
    } catch (err) {
      if (!(isHushError(err) && err.kind === 'passphrase')) throw err;
    }
  }
  // On the terminal: three tries, each saying why the last one failed (passphrase.ts).
  return promptUntilOpen(`Passphrase for ${file.name}:`, (p) => unlockWithPassphrase(file, p, opts.progress));
}

export interface RewrapOptions {
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
}

/**
 * passwd: re-wraps the data key under `newPassphrase` with a fresh salt (and the current
 * write parameters). The new file is checked to open, then renamed over the old one, so the
 * old keyring stays valid until the new one is on disk. Returns the new file.
 */
export async function rewrap(paths: HushPaths, unlocked: Unlocked, newPassphrase: Uint8Array, opts: RewrapOptions = {}): Promise<KeyringFile> {
  const kdf = newKdfParams(opts.env);
  const progress = opts.progress ?? noProgress;
  const wk = await progress('deriving the new key (Argon2id)', () => deriveWrappingKey(argon2idKdf, newPassphrase, kdf));
  try {
    const next = rewrapKeyring(unlocked.file, unlocked.dataKey, kdf, wk, randomBytes);
    const check = openKeyring(next, wk);
    wipeIdentity(check.identity);
    wipe(check.dataKey);
    await atomicWriteFile(paths.keyring, keyringToJson(next), 0o600);
    return next;
  } finally {
    wipe(wk);
  }
}
