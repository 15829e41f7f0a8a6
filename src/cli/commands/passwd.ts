/**
 * hush passwd [--new-passphrase-file PATH]: re-wraps the keyring's data key under a new
 * passphrase (fresh salt). The old passphrase comes from the usual sources; the new one from
 * --new-passphrase-file, HUSH_NEW_PASSPHRASE or a prompt with confirmation. The old keyring
 * stays valid until the new one is renamed into place.
 * Output (--json): {"name","keyring","changed":true}.
 */
import { wipeIdentity } from '../../crypto/identity.js';
import { wipe } from '../../crypto/nacl.js';
import { parseKdfOverride } from '../../store/kdf.js';
import { rewrap } from '../../store/keyring-store.js';
import { newPassphraseForPasswd } from '../../store/passphrase.js';
import { unlockHome } from '../common.js';
import { refreshRememberedKey } from '../keychain-hook.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  parseKdfOverride(ctx.env.HUSH_KDF_PARAMS);
  const { paths, unlocked } = await unlockHome(ctx);
  try {
    const next = await newPassphraseForPasswd({
      newPassphraseFile: typeof opts.newPassphraseFile === 'string' ? opts.newPassphraseFile : undefined,
      env: ctx.env,
      allowWeak: opts.weakPassphrase === true,
    });
    const file = await rewrap(paths, unlocked, next.bytes, { env: ctx.env, progress: (label, fn) => ctx.out.progress(label, fn) });
    await refreshRememberedKey(ctx.out, ctx.env, paths.home, file, next.bytes);
    next.bytes.fill(0);
  } finally {
    wipeIdentity(unlocked.identity);
    wipe(unlocked.dataKey, unlocked.wrappingKey);
  }
  ctx.out.data({ name: unlocked.file.name, keyring: paths.keyring, changed: true }, `passphrase changed for ${unlocked.file.name}`);
};
