/**
 * Connects the OS keychain (src/store/keychain.ts) to the passphrase sources of
 * src/store/passphrase.ts (step 4, between HUSH_PASSPHRASE and the prompt), and prints its
 * hints. main.ts installs it once per command run; the store never prints.
 *
 * A remembered wrapping key is used only when its salt is the keyring's current KDF salt and
 * it really opens the keyring; otherwise one hint
 *   hush: hint: the keychain entry for this home no longer matches the keyring; run hush unlock --remember
 * and the next source (the prompt) is used. A keychain that does not answer earns one hint
 * too, except where there is no D-Bus session at all (nobody can have an entry there).
 *
 * Light at import time: the keychain and crypto modules are loaded only when a command
 * actually reaches the keychain step.
 */
import { isHushError } from '../errors.js';
import { setKeychainSource } from '../store/passphrase.js';
import type { KeyringFile } from '../protocol/keyring-file.js';
import type { Output } from './output.js';

export const STALE_KEYCHAIN_HINT = 'the keychain entry for this home no longer matches the keyring; run hush unlock --remember';

export function printHint(out: Output, text: string): void {
  out.info(`${out.cErr.dim('hush: hint:')} ${text}`);
}

export function installKeychainSource(out: Output, env: NodeJS.ProcessEnv): void {
  let hinted = false;
  const hintOnce = (text: string): void => {
    if (hinted) return;
    hinted = true;
    printHint(out, text);
  };
  setKeychainSource(async ({ home, file }) => {
    const { getRemembered } = await import('../store/keychain.js');
    const r = await getRemembered(home, { env, passive: true });
    if (r.status === 'none') return undefined;
    if (r.status === 'expired') {
      hintOnce('the key remembered in the OS keychain for this home has expired and was removed; run hush unlock --remember to remember it again');
      return undefined;
    }
    if (r.status === 'unavailable') {
      if (!r.noSession) hintOnce(`the OS keychain is not available (${r.reason}); using the other passphrase sources`);
      return undefined;
    }
    if (r.status === 'invalid') {
      hintOnce(STALE_KEYCHAIN_HINT);
      return undefined;
    }
    const [{ bytesEqual }, { openKeyring }, { wipe }, { wipeIdentity }] = await Promise.all([
      import('../protocol/encoding.js'),
      import('../crypto/keyring.js'),
      import('../crypto/nacl.js'),
      import('../crypto/identity.js'),
    ]);
    // A different salt: `hush passwd` ran since (maybe elsewhere); do not even try the key.
    if (!bytesEqual(r.salt, file.kdf.salt)) {
      wipe(r.key);
      hintOnce(STALE_KEYCHAIN_HINT);
      return undefined;
    }
    try {
      const opened = openKeyring(file, r.key);
      wipe(opened.dataKey);
      wipeIdentity(opened.identity);
    } catch (err) {
      if (isHushError(err) && err.kind === 'passphrase') {
        wipe(r.key);
        hintOnce(STALE_KEYCHAIN_HINT);
        return undefined;
      }
      // The key opens the wrap but the file is damaged: let the real unlock report that.
    }
    return r.key;
  });
}

/**
 * After `hush passwd` rewrote the keyring of `home` as `file` (new salt) under `passphrase`:
 * a key remembered for this home is replaced by the new wrapping key (one more Argon2id run,
 * only when there is an entry), so later commands keep needing no passphrase. Never throws:
 * when the entry cannot be replaced it is removed, and a hint says so.
 */
export async function refreshRememberedKey(out: Output, env: NodeJS.ProcessEnv, home: string, file: KeyringFile, passphrase: Uint8Array): Promise<void> {
  const kc = await import('../store/keychain.js');
  const r = await kc.getRemembered(home, { env, passive: true });
  if (r.status === 'none' || r.status === 'unavailable' || r.status === 'expired') return;
  const expires = r.status === 'found' ? r.expires : Date.now() + (await import('../store/keychain.js')).DEFAULT_REMEMBER_MS;
  if (r.status === 'found') r.key.fill(0);
  try {
    const [{ deriveWrappingKey }, { argon2idKdf }] = await Promise.all([import('../crypto/keyring.js'), import('../store/kdf.js')]);
    const wk = await out.progress('deriving the key for the OS keychain (Argon2id)', () => deriveWrappingKey(argon2idKdf, passphrase, file.kdf));
    const stored = await kc.remember(home, wk, file.kdf.salt, expires, { env }); // the same lifetime as before
    wk.fill(0);
    if (stored.status === 'stored') return;
  } catch {
    // fall through: remove the stale entry below
  }
  await kc.forget(home, { env });
  printHint(out, 'the key remembered in the OS keychain could not be updated and was removed; run hush unlock --remember');
}
