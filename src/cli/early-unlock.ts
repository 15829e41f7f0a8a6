/**
 * A command that opens the keyring before anything else it does with the home (`pull`,
 * `listen`, `history`, `contacts`: `unlocksFirst` in the command table) starts the key
 * derivation before its own modules load, so that Argon2id (on libuv's thread pool) and the
 * rest of the loading (on the main thread) overlap: ~45-55 ms off an empty `hush pull`
 * (docs/PERFORMANCE.md "Binary mail pages, and where the pull's CPU goes").
 *
 * Only for a passphrase given in HUSH_PASSPHRASE or by --passphrase-file: never a prompt or a
 * keychain lookup before the command has looked at its arguments, and nothing read from a
 * --passphrase-fd that the command might read itself. The command's unlockHome
 * (src/cli/common.ts) takes the result where it would have unlocked, for the same home, so an
 * error (a wrong passphrase, no keyring) comes out at the same point, after the same earlier
 * checks, as without it. A result nobody takes (the command failed first) has its keys wiped.
 */
import { wipe } from '../crypto/nacl.js';
import { wipeIdentity } from '../crypto/identity.js';
import { type Unlocked, unlock } from '../store/keyring-store.js';
import { hushPaths, resolveHome } from '../store/paths.js';
import type { GlobalOptions } from './commands/index.js';

export interface EarlyUnlock {
  /** The home whose keyring it opens (resolveHome's answer). */
  home: string;
  result: Promise<Unlocked>;
  /** Set once unlockHome took the result. */
  taken: boolean;
  /** Set once the derivation ended (either way). */
  settled: boolean;
}

/** Starts the unlock of the home now when its passphrase is given without a prompt; else undefined. */
export function startEarlyUnlock(global: Pick<GlobalOptions, 'home' | 'passphraseFile' | 'passphraseFd'>, env: NodeJS.ProcessEnv): EarlyUnlock | undefined {
  if (global.passphraseFd !== undefined) return undefined;
  if (global.passphraseFile === undefined && env.HUSH_PASSPHRASE === undefined) return undefined;
  let home: string;
  try {
    home = resolveHome(global.home, env);
  } catch {
    return undefined; // the command says what is wrong with the home, as before
  }
  const result = unlock(hushPaths(home), { passphraseFile: global.passphraseFile, env });
  const early: EarlyUnlock = { home, result, taken: false, settled: false };
  // Its error, if any, is the command's only once unlockHome takes it; never an unhandled rejection.
  result.then(
    () => (early.settled = true),
    () => (early.settled = true),
  );
  return early;
}

/** At the end of the command: a result it never took is wiped once the derivation ends. */
export function dropEarlyUnlock(early: EarlyUnlock | undefined): void {
  if (!early || early.taken) return;
  early.taken = true;
  early.result.then(
    (u) => {
      wipeIdentity(u.identity);
      wipe(u.dataKey, u.wrappingKey);
    },
    () => undefined,
  );
}
