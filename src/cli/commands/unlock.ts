/**
 * `hush unlock [--remember]`
 *
 * Without --remember: opens the keyring with the usual passphrase sources (--passphrase-file,
 * --passphrase-fd, HUSH_PASSPHRASE, the keychain, the prompt) and says whether that worked.
 *
 * With --remember: takes the passphrase from --passphrase-file, --passphrase-fd,
 * HUSH_PASSPHRASE or the prompt (not from the keychain: the point is to (re)fill it), derives
 * the Argon2id wrapping key once, checks that it opens the keyring, and stores it (never the
 * passphrase) in the OS keychain under this home, for --for DURATION (default 7d, at most
 * 365d). Later commands then need no passphrase until it expires; the expired entry is deleted
 * by the lookup that finds it.
 * No keychain: PassphraseError KEYCHAIN_UNAVAILABLE (exit 3) with the reason and a hint.
 *
 * --json: {"home":S,"name":S,"unlocked":true,"source":"file"|"fd"|"env"|"keychain"|"prompt",
 *          "remembered":bool,"expires"?:ms (with --remember)}
 */
import { PassphraseError, UsageError } from '../../errors.js';
import { wipe } from '../../crypto/nacl.js';
import { bytesEqual } from '../../protocol/encoding.js';
import { DEFAULT_REMEMBER_MS, getRemembered, probeKeychain, remember } from '../../store/keychain.js';
import { readKeyringFile, unlock, unlockWithPassphrase, type Unlocked } from '../../store/keyring-store.js';
import { passphraseFromSources, promptUntilOpen } from '../../store/passphrase.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { homePaths, passphraseOptions } from '../common.js';
import type { CommandRun } from './index.js';

const NO_KEYCHAIN_HINT = 'start a Secret Service (e.g. gnome-keyring) in this login session, or keep using --passphrase-file, --passphrase-fd or HUSH_PASSPHRASE';

export const run: CommandRun = async (ctx, _args, opts) => {
  const { out, env } = ctx;
  const paths = await homePaths(ctx);
  const progress = <T>(label: string, fn: () => Promise<T>): Promise<T> => out.progress(label, fn);
  const sources = passphraseOptions(ctx);

  if (opts.for !== undefined && opts.remember !== true) {
    throw new UsageError('FOR_WITHOUT_REMEMBER', '--for is the lifetime of a remembered key', { hint: 'use it with --remember, e.g. hush unlock --remember --for 8h' });
  }
  const lifetime = typeof opts.for === 'string' ? parseLifetime(opts.for) : DEFAULT_REMEMBER_MS;

  if (opts.remember !== true) {
    const u = await unlock(paths, { ...sources, progress });
    const name = u.file.name;
    const source = u.source;
    forgetSecrets(u);
    out.data({ home: paths.home, name, unlocked: true, source, remembered: false }, `the passphrase opens the keyring of ${name} (${describe(source)})`);
    return;
  }

  const file = await readKeyringFile(paths);
  // Ask the keychain before asking for the passphrase, so nobody types it for nothing.
  const probe = await probeKeychain({ env });
  if (probe.status === 'unavailable') {
    throw new PassphraseError('KEYCHAIN_UNAVAILABLE', `no OS keychain is available: ${probe.reason}`, { hint: NO_KEYCHAIN_HINT });
  }
  const given = passphraseFromSources(sources);
  let u: Unlocked;
  let expires = 0;
  if (given) {
    try {
      u = await unlockWithPassphrase(file, given, progress);
    } finally {
      wipe(given.bytes);
    }
  } else {
    u = await promptUntilOpen(`Passphrase for ${file.name}:`, (p) => unlockWithPassphrase(file, p, progress));
  }
  try {
    expires = Date.now() + lifetime;
    const stored = await remember(paths.home, u.wrappingKey, file.kdf.salt, expires, { env });
    if (stored.status === 'unavailable') {
      throw new PassphraseError('KEYCHAIN_UNAVAILABLE', `the OS keychain did not store the key: ${stored.reason}`, { hint: NO_KEYCHAIN_HINT });
    }
    // Read it back: a keychain that accepts a secret but does not keep it is no keychain.
    const back = await getRemembered(paths.home, { env, now: 0 }); // now: 0, the entry's lifetime is not judged here (a short --for on a slow keychain)
    if (back.status !== 'found' || !bytesEqual(back.key, u.wrappingKey) || !bytesEqual(back.salt, file.kdf.salt)) {
      throw new PassphraseError('KEYCHAIN_UNAVAILABLE', 'the OS keychain did not keep the key', { hint: NO_KEYCHAIN_HINT });
    }
    wipe(back.key);
  } finally {
    forgetSecrets(u);
  }
  out.data(
    { home: paths.home, name: file.name, unlocked: true, source: u.source, remembered: true, expires },
    `remembered the key of ${file.name} in the OS keychain until ${new Date(expires).toISOString().slice(0, 16).replace('T', ' ')} UTC; commands for ${paths.home} need no passphrase until then (hush lock forgets it)`,
  );
};

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** --for: `8h`, `7d`, `30m`, `90s` (a bare number is seconds), from 1s to 365d. */
function parseLifetime(raw: string): number {
  const m = /^(\d{1,9})(s|m|h|d)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  if (!(ms >= 1000 && ms <= 365 * 86_400_000)) {
    throw new UsageError('BAD_REMEMBER_FOR', `--for must be a duration from 1s to 365d, not '${raw.slice(0, 40)}'`, {
      hint: 'e.g. hush unlock --remember --for 8h (the default is 7d)',
    });
  }
  return ms;
}

function forgetSecrets(u: Unlocked): void {
  wipeIdentity(u.identity);
  wipe(u.dataKey, u.wrappingKey);
}

function describe(source: string): string {
  switch (source) {
    case 'file':
      return 'from --passphrase-file';
    case 'fd':
      return 'from --passphrase-fd';
    case 'env':
      return 'from HUSH_PASSPHRASE';
    case 'keychain':
      return 'with the key remembered in the OS keychain';
    default:
      return 'typed at the prompt';
  }
}
