/**
 * hush register [--relay URL] [--default] [--release]: publishes our signed bundle under our
 * name on the relay (idempotent). With --release, frees our name on that relay instead (the
 * `release` frame, docs/PROTOCOL.md §7.2): lookups of the name and of our key answer NOT_FOUND,
 * anyone may claim the name, mail already addressed to our key stays ours; stderr
 * `released alice on ws://…; anyone may register that name there now`, --json
 * {"event":"released","name","relay","fingerprint"}. Refused with NAME_TAKEN (exit 4) when
 * another key holds the name, NOT_FOUND (exit 4) when nobody does. The default relay is not
 * touched. Use it before `hush init --force`, or from the kept old keyring after it. The default relay (config.json "relay") is set when none is remembered
 * yet, or with --default; registering on another relay never moves it silently: it says so.
 * Output: human on stderr `registered alice on ws://… (fingerprint …)` and, when a default
 * exists elsewhere, what happened to it; --json on stdout
 * {"event":"registered","name","relay","fingerprint","defaultRelay","defaultChanged"}.
 */
import { UsageError } from '../../errors.js';
import { RelayClient } from '../../client/relay-client.js';
import { makeBundle } from '../../crypto/bundle.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { randomBytes, signDetached } from '../../crypto/nacl.js';
import { updateConfig } from '../../store/config.js';
import { homePaths, tip, unlockHome } from '../common.js';
import { prekeyPolicy, relayTimeoutMs, requireRelay } from '../messaging.js';
import { openStore } from '../format.js';
import { syncPrekeys } from '../../client/prekeys.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  if (opts.release === true && opts.default === true) {
    throw new UsageError('CONFLICTING_OPTIONS', '--release and --default do not go together', {
      hint: 'hush register --release frees your name; hush register --default publishes it and makes this relay the default',
    });
  }
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
      if (opts.release === true) await client.release(name);
      else {
        await client.register(bundle);
        // v2: publish our prekeys (generated on first use, kept in the local store) so that
        // contacts can start sessions with us (docs/PROTOCOL.md §9.10).
        const store = openStore(paths, unlocked);
        try {
          await syncPrekeys(store, id, client, Date.now(), randomBytes, prekeyPolicy(ctx, relay.config));
        } finally {
          store.close();
        }
      }
    } finally {
      await client.close();
    }
  } finally {
    wipeIdentity(id);
  }
  if (opts.release === true) {
    const fp = fingerprint(unlocked.file.signPk);
    if (ctx.out.json) ctx.out.data({ event: 'released', name, relay: relay.url, fingerprint: fp }, '');
    else ctx.out.info(`released ${name} on ${relay.url}; anyone may register that name there now`);
    return;
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
