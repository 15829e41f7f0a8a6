/**
 * hush init [--name NAME] [--force]: a new identity in a new keyring.
 * Output (--json): {"name","fingerprint","signPk","boxPk","keyring","home"}.
 */
import * as os from 'node:os';
import { UsageError } from '../../errors.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { toB64 } from '../../protocol/encoding.js';
import { isValidName } from '../../protocol/names.js';
import { parseKdfOverride } from '../../store/kdf.js';
import { assertCanCreate, createKeyring } from '../../store/keyring-store.js';
import { newPassphraseForInit } from '../../store/passphrase.js';
import { homePaths, passphraseOptions, tip } from '../common.js';
import type { CommandRun } from './index.js';

function defaultName(): string {
  let user = '';
  try {
    user = os.userInfo().username.toLowerCase();
  } catch {
    user = '';
  }
  if (!isValidName(user)) {
    throw new UsageError('NAME_REQUIRED', user ? `your user name "${user}" is not a valid hush name` : 'cannot tell your user name', {
      hint: 'choose one with hush init --name NAME (1-32 of a-z 0-9 . _ -)',
    });
  }
  return user;
}

export const run: CommandRun = async (ctx, _args, opts) => {
  const name = typeof opts.name === 'string' ? opts.name : defaultName();
  if (!isValidName(name)) {
    throw new UsageError('BAD_NAME', `invalid name "${name}"`, { hint: 'use 1-32 characters a-z, 0-9, ".", "_" or "-", starting with a letter or digit' });
  }
  const force = opts.force === true;
  // Everything that can be refused is refused before a passphrase is asked or Argon2 runs.
  parseKdfOverride(ctx.env.HUSH_KDF_PARAMS);
  const paths = await homePaths(ctx, { create: true });
  await assertCanCreate(paths, force);
  const passphrase = await newPassphraseForInit({ ...passphraseOptions(ctx), allowWeak: opts.weakPassphrase === true });
  const file = await createKeyring(paths, {
    name,
    passphrase: passphrase.bytes,
    force,
    env: ctx.env,
    progress: (label, fn) => ctx.out.progress(label, fn),
    onSetAside: (moved) => {
      for (const m of moved) ctx.out.info(`hush: the previous identity's file was kept as ${m}`);
    },
  });
  passphrase.bytes.fill(0);
  const fp = fingerprint(file.signPk);
  ctx.out.data(
    { name: file.name, fingerprint: fp, signPk: toB64(file.signPk), boxPk: toB64(file.boxPk), keyring: paths.keyring, home: paths.home },
    () => {
      const c = ctx.out.c;
      return [
        `${c.green('created')} identity ${c.bold(file.name)}`,
        `fingerprint  ${c.cyan(fp)}`,
        `keyring      ${paths.keyring}`,
      ].join('\n');
    },
  );
  const relayKnown = ctx.global.relay !== undefined || (ctx.env.HUSH_RELAY ?? '') !== '';
  tip(ctx, relayKnown ? 'next: hush register   (publishes your key on the relay)' : 'next: hush register --relay ws://HOST:PORT   (publishes your key; run a relay with hush relay)');
};
