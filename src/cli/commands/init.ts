/**
 * hush init [--name NAME] [--force]: a new identity in a new keyring.
 * Output (--json): {"name","fingerprint","signPk","boxPk","keyring","home"}.
 * With --force over an existing identity, stderr says what happens to the old name: the old
 * key still holds it on the relays it registered on (a relay never gives a name to another
 * key), so a new key of the SAME name cannot register there (warning + hint: sign a transfer
 * to the new key with `hush register --transfer-to KEY` run from the kept old keyring and
 * present it with `--transfer-from`, or free it with `--release`); a new name gets a note that mail
 * to the old name still goes to the old key.
 */
import * as os from 'node:os';
import { UsageError } from '../../errors.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { toB64 } from '../../protocol/encoding.js';
import { isValidName } from '../../protocol/names.js';
import { parseKdfOverride } from '../../store/kdf.js';
import { readConfig } from '../../store/config.js';
import { assertCanCreate, createKeyring, readKeyringFile } from '../../store/keyring-store.js';
import type { HushPaths } from '../../store/paths.js';
import type { CommandContext } from './index.js';
import { newPassphraseForInit } from '../../store/passphrase.js';
import { homePaths, passphraseOptions, tip } from '../common.js';
import type { CommandRun } from './index.js';

/** The identity --force replaces (name, fingerprint, default relay), read before it is set aside. */
async function previousIdentity(paths: HushPaths): Promise<{ name: string; fingerprint: string; relay?: string } | undefined> {
  try {
    const old = await readKeyringFile(paths);
    let relay: string | undefined;
    try {
      relay = (await readConfig(paths)).relay;
    } catch {
      relay = undefined; // a bad config.json does not stop init
    }
    return { name: old.name, fingerprint: fingerprint(old.signPk), ...(relay === undefined ? {} : { relay }) };
  } catch {
    return undefined; // no (readable) old keyring: nothing to say about its name
  }
}

/** Tells what happens to the old identity's name after init --force (stderr). */
function sayOldName(
  ctx: CommandContext,
  paths: HushPaths,
  old: { name: string; fingerprint: string; relay?: string },
  name: string,
  newKey: string,
  kept: readonly string[],
): void {
  const where = old.relay === undefined ? 'on the relays it registered on' : `on the relays it registered on (${old.relay} and any other)`;
  const keptFile = kept.find((k) => k.startsWith(`${paths.keyring}.replaced-`));
  const keptAs = keptFile === undefined ? '' : ` (its keyring was kept as ${keptFile})`;
  if (old.name === name) {
    ctx.out.warn(
      `your old identity ${old.name} (fingerprint ${old.fingerprint}) still holds the name ${old.name} ${where}${keptAs}; this new key cannot register ${old.name} there (the relay answers NAME_TAKEN), and mail sent to ${old.name} still goes to the old key`,
    );
    ctx.out.info(
      `hush: hint: only the old key can give the name away: copy ${keptFile ?? 'the kept keyring.json.replaced-<ms>'} as keyring.json into an empty directory (mode 0700), run HUSH_HOME=that-directory hush register --transfer-to ${newKey} > transfer.json (it signs the transfer to this key), then here hush register --transfer-from transfer.json --relay URL on each relay: contacts who pinned the old key are told the key changed; or free the name there with hush register --release --relay URL and then hush register here; or start over with another name (hush init --force --name NEW)`,
    );
  } else {
    ctx.out.info(
      `hush: note: your old identity still holds the name ${old.name} ${where}${keptAs}; mail sent to ${old.name} still goes to the old key, so give your contacts your new name ${name} and its fingerprint (hush register --release run with the old keyring frees the old name; --transfer-to moves it to a key of that name)`,
    );
  }
}

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
  const old = force ? await previousIdentity(paths) : undefined;
  const passphrase = await newPassphraseForInit({ ...passphraseOptions(ctx), allowWeak: opts.weakPassphrase === true });
  const kept: string[] = [];
  const file = await createKeyring(paths, {
    name,
    passphrase: passphrase.bytes,
    force,
    env: ctx.env,
    progress: (label, fn) => ctx.out.progress(label, fn),
    onSetAside: (moved) => {
      for (const m of moved) ctx.out.info(`hush: the previous identity's file was kept as ${m}`);
      kept.push(...moved);
    },
  });
  passphrase.bytes.fill(0);
  const fp = fingerprint(file.signPk);
  ctx.out.data({ name: file.name, fingerprint: fp, signPk: toB64(file.signPk), boxPk: toB64(file.boxPk), keyring: paths.keyring, home: paths.home }, () => {
    const c = ctx.out.c;
    return [`${c.green('created')} identity ${c.bold(file.name)}`, `fingerprint  ${c.cyan(fp)}`, `keyring      ${paths.keyring}`].join('\n');
  });
  if (old) sayOldName(ctx, paths, old, file.name, toB64(file.signPk), kept);
  const relayKnown = ctx.global.relay !== undefined || (ctx.env.HUSH_RELAY ?? '') !== '';
  tip(
    ctx,
    relayKnown ? 'next: hush register   (publishes your key on the relay)' : 'next: hush register --relay ws://HOST:PORT   (publishes your key; run a relay with hush relay)',
  );
};
