/**
 * hush register [--relay URL] [--default]: publishes our signed bundle under our name on the
 * relay (idempotent). The default relay (config.json "relay") is set when none is remembered
 * yet, or with --default; registering on another relay never moves it silently: it says so.
 * Output: human on stderr `registered alice on ws://… (fingerprint …)` and, when a default
 * exists elsewhere, what happened to it; --json on stdout
 * {"event":"registered","name","relay","fingerprint","defaultRelay","defaultChanged"}.
 */
import { RelayClient } from '../../client/relay-client.js';
import { makeBundle } from '../../crypto/bundle.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { signDetached } from '../../crypto/nacl.js';
import { updateConfig } from '../../store/config.js';
import { homePaths, tip, unlockHome } from '../common.js';
import { relayTimeoutMs, requireRelay } from '../messaging.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  const paths = await homePaths(ctx);
  const relay = await requireRelay(ctx, paths);
  const timeoutMs = relayTimeoutMs(ctx);
  const { unlocked } = await unlockHome(ctx, paths);
  const id = unlocked.identity;
  const name = unlocked.file.name;
  try {
    const bundle = makeBundle(id, name, unlocked.file.created);
    const client = await RelayClient.connect(relay.url, { signPk: id.signPk, sign: (m) => signDetached(m, id.signSk), timeoutMs });
    try {
      await client.register(bundle);
    } finally {
      await client.close();
    }
  } finally {
    wipeIdentity(id);
  }
  const before = relay.config.relay;
  const makeDefault = before === undefined || (opts.default === true && before !== relay.url);
  if (makeDefault) {
    await updateConfig(paths, (cfg) => {
      cfg.relay = relay.url;
    });
  }
  const defaultRelay = makeDefault ? relay.url : before!;
  const fp = fingerprint(unlocked.file.signPk);
  if (ctx.out.json) ctx.out.data({ event: 'registered', name, relay: relay.url, fingerprint: fp, defaultRelay, defaultChanged: makeDefault && before !== undefined }, '');
  else {
    ctx.out.info(`registered ${name} on ${relay.url} (fingerprint ${fp})`);
    if (makeDefault && before !== undefined) ctx.out.info(`your default relay is now ${relay.url} (was ${before})`);
    else if (makeDefault) ctx.out.info(`${relay.url} is your default relay now`);
    else if (before !== relay.url) ctx.out.info(`your default relay stays ${before}; pass --default to make ${relay.url} the default`);
  }
  tip(ctx, 'next: hush send NAME "text" to write to someone, hush listen (or hush pull) to read');
};
