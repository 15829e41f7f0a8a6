/**
 * hush whoami: the identity in the clear keyring header; no passphrase needed.
 * Output (--json): {"name","fingerprint","signPk","boxPk","created","relay" (string|null),
 * "keyring","home"}. created is ms since the epoch.
 */
import { fingerprint } from '../../crypto/fingerprint.js';
import { toB64 } from '../../protocol/encoding.js';
import { readKeyringFile } from '../../store/keyring-store.js';
import { homePaths, relayUrl } from '../common.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx) => {
  const paths = await homePaths(ctx);
  const file = await readKeyringFile(paths);
  const relay = await relayUrl(ctx, paths);
  const fp = fingerprint(file.signPk);
  ctx.out.data(
    {
      name: file.name,
      fingerprint: fp,
      signPk: toB64(file.signPk),
      boxPk: toB64(file.boxPk),
      created: file.created,
      relay: relay ?? null,
      keyring: paths.keyring,
      home: paths.home,
    },
    () => {
      const c = ctx.out.c;
      return [
        `name         ${c.bold(file.name)}`,
        `fingerprint  ${c.cyan(fp)}`,
        `signPk       ${toB64(file.signPk)}`,
        `relay        ${relay ?? c.dim('none')}`,
        `keyring      ${paths.keyring}`,
      ].join('\n');
    },
  );
};
