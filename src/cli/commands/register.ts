/**
 * hush register [--relay URL]: publishes our signed bundle under our name on the relay
 * (idempotent) and remembers the relay in config.json when it came from --relay or none was
 * remembered yet.
 * Output: human on stderr `registered alice on ws://… (fingerprint …)`; --json on stdout
 * {"event":"registered","name","relay","fingerprint"}.
 */
import { RelayClient } from '../../client/relay-client.js';
import { makeBundle } from '../../crypto/bundle.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { signDetached } from '../../crypto/nacl.js';
import { updateConfig } from '../../store/config.js';
import { homePaths, tip, unlockHome } from '../common.js';
import { requireRelay } from '../messaging.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx) => {
  const paths = await homePaths(ctx);
  const relay = await requireRelay(ctx, paths);
  const { unlocked } = await unlockHome(ctx, paths);
  const id = unlocked.identity;
  const name = unlocked.file.name;
  try {
    const bundle = makeBundle(id, name, unlocked.file.created);
    const client = await RelayClient.connect(relay.url, { signPk: id.signPk, sign: (m) => signDetached(m, id.signSk) });
    try {
      await client.register(bundle);
    } finally {
      await client.close();
    }
  } finally {
    wipeIdentity(id);
  }
  if (relay.source === 'flag' || relay.config.relay === undefined) {
    await updateConfig(paths, (cfg) => {
      cfg.relay = relay.url;
    });
  }
  const fp = fingerprint(unlocked.file.signPk);
  if (ctx.out.json) ctx.out.data({ event: 'registered', name, relay: relay.url, fingerprint: fp }, '');
  else ctx.out.info(`registered ${name} on ${relay.url} (fingerprint ${fp})`);
  tip(ctx, 'next: hush send NAME "text" to write to someone, hush listen (or hush pull) to read');
};
