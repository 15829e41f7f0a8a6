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
 *
 * Name transfer (docs/PROTOCOL.md §7.2 "Transfer"), two steps:
 * - `--transfer-to KEY` in the home that holds the name (KEY: the new identity's signPk in
 *   base64, as `hush whoami --json` or `init` print it) signs a transfer of our name to KEY and
 *   prints the statement, one line of JSON, on stdout (with --json inside
 *   {"event":"transfer-signed","name","to","statement"}); it contacts no relay.
 * - `--transfer-from FILE` (`-`: stdin) in the new home presents it with our bundle: the relay
 *   checks the old key's signature and moves the name to us in one transaction; stderr
 *   `moved the name alice to this key on ws://… (fingerprint …)`, --json
 *   {"event":"transferred","name","relay","fingerprint","defaultRelay","defaultChanged"}. A
 *   statement for another key or another name is refused (exit 2), a damaged one BAD_TRANSFER
 *   (exit 6); the relay's refusals (NAME_TAKEN, NOT_FOUND, BAD_TRANSFER) are exit 4.
 */
import { readFileSync } from 'node:fs';
import { RelayError, UsageError } from '../../errors.js';
import { RelayClient } from '../../client/relay-client.js';
import { makeBundle } from '../../crypto/bundle.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { wipeIdentity } from '../../crypto/identity.js';
import { randomBytes, signDetached } from '../../crypto/nacl.js';
import { bytesEqual, fromB64, toB64 } from '../../protocol/encoding.js';
import { encodeTransfer, type NameTransfer, parseTransfer, TRANSFER_MAX_TEXT, transferSignedBytes } from '../../protocol/name-transfer.js';
import { updateConfig } from '../../store/config.js';
import { homePaths, tip, unlockHome } from '../common.js';
import { prekeyPolicy, relayTimeoutMs, requireRelay } from '../messaging.js';
import { openStore } from '../format.js';
import { syncPrekeys } from '../../client/prekeys.js';
import type { CommandRun } from './index.js';

/** The new key of --transfer-to: 32 bytes of base64. */
function transferKey(text: string): Uint8Array {
  let k: Uint8Array | undefined;
  try {
    k = fromB64(text.trim());
  } catch {
    k = undefined;
  }
  if (!k || k.length !== 32) {
    throw new UsageError('BAD_KEY', `--transfer-to ${JSON.stringify(text.slice(0, 60))} is not an identity key`, {
      hint: "give the new identity's signPk in base64 (44 characters), as hush whoami --json prints it in the new home",
    });
  }
  return k;
}

/** The statement of --transfer-from FILE (`-`: stdin). */
function readTransfer(file: string): NameTransfer {
  let text: string;
  try {
    const b = readFileSync(file === '-' ? 0 : file);
    if (b.length > TRANSFER_MAX_TEXT)
      throw new UsageError('BAD_TRANSFER_FILE', `${file} is too large for a name transfer (${b.length} bytes)`, { hint: 'give the file hush register --transfer-to wrote' });
    text = b.toString('utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError('BAD_TRANSFER_FILE', `cannot read ${file} (${(e as { code?: string }).code ?? (e as Error).message})`, {
      hint: 'give the file hush register --transfer-to wrote',
    });
  }
  return parseTransfer(text);
}

export const run: CommandRun = async (ctx, _args, opts) => {
  const modes = (['release', 'transferTo', 'transferFrom'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  const flag = { release: '--release', transferTo: '--transfer-to', transferFrom: '--transfer-from' };
  if (modes.length > 1 || (opts.default === true && (opts.release === true || opts.transferTo !== undefined))) {
    const [a, b] = modes.length > 1 ? modes : [modes[0]!, 'default' as const];
    throw new UsageError('CONFLICTING_OPTIONS', `${flag[a]} and ${b === 'default' ? '--default' : flag[b]} do not go together`, {
      hint: 'hush register --release frees your name; --transfer-to KEY signs it over to another key; --transfer-from FILE takes it; hush register --default publishes it and makes this relay the default',
    });
  }
  const paths = await homePaths(ctx);
  if (typeof opts.transferTo === 'string') {
    const to = transferKey(opts.transferTo);
    const { unlocked } = await unlockHome(ctx, paths);
    const id = unlocked.identity;
    const name = unlocked.file.name;
    let statement: string;
    try {
      if (bytesEqual(to, id.signPk))
        throw new UsageError('BAD_KEY', "--transfer-to names this identity's own key", { hint: 'give the key of the identity that should get the name' });
      statement = encodeTransfer({ name, from: id.signPk, to, sig: signDetached(transferSignedBytes(name, id.signPk, to), id.signSk) });
    } finally {
      wipeIdentity(id);
    }
    const fp = fingerprint(to);
    ctx.out.data({ event: 'transfer-signed', name, to: toB64(to), statement }, statement);
    if (!ctx.out.json) {
      ctx.out.info(`signed the transfer of ${name} to the key with fingerprint ${fp}; in that key's home run hush register --transfer-from FILE (this statement) on each relay`);
    }
    return;
  }
  const transfer = typeof opts.transferFrom === 'string' ? readTransfer(opts.transferFrom) : undefined;
  const relay = await requireRelay(ctx, paths);
  const timeoutMs = relayTimeoutMs(ctx);
  // Checked before anything is sent: a bad setting must not leave the name registered without prekeys.
  const policy = prekeyPolicy(ctx, relay.config);
  const { unlocked } = await unlockHome(ctx, paths);
  const id = unlocked.identity;
  const name = unlocked.file.name;
  try {
    if (transfer && !bytesEqual(transfer.to, id.signPk)) {
      throw new UsageError(
        'TRANSFER_NOT_FOR_THIS_KEY',
        `the transfer gives ${transfer.name} to the key with fingerprint ${fingerprint(transfer.to)}, not to this identity (${fingerprint(id.signPk)})`,
        {
          hint: 'run it in the home of that key, or make a new one with hush register --transfer-to KEY in the old home',
        },
      );
    }
    if (transfer && transfer.name !== name) {
      throw new UsageError('TRANSFER_NAME_MISMATCH', `the transfer is for the name ${transfer.name}, but this identity is named ${name}`, {
        hint: `a name moves to a key of the same name: make one with hush init --force --name ${transfer.name}`,
      });
    }
    const bundle = makeBundle(id, name, unlocked.file.created);
    const client = await RelayClient.connect(relay.url, { signPk: id.signPk, sign: (m) => signDetached(m, id.signSk), timeoutMs });
    try {
      if (opts.release === true) await client.release(name);
      else {
        if (transfer) await client.transfer(bundle, transfer.from, transfer.sig);
        else await client.register(bundle);
        // v2: publish our prekeys (generated on first use, kept in the local store) so that
        // contacts can start sessions with us (docs/PROTOCOL.md §9.10).
        const store = openStore(paths, unlocked);
        try {
          await syncPrekeys(store, id, client, Date.now(), randomBytes, policy);
        } catch (e) {
          // A relay that keeps no prekeys (one that predates v2) answers UNKNOWN_TYPE:
          // registered all the same, contacts send v1.
          if (!(e instanceof RelayError && e.code === 'UNKNOWN_TYPE')) throw e;
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
  if (ctx.out.json)
    ctx.out.data(
      { event: transfer ? 'transferred' : 'registered', name, relay: relay.url, fingerprint: fp, defaultRelay, defaultChanged: makeDefault && before !== undefined },
      '',
    );
  else {
    if (transfer) ctx.out.info(`moved the name ${name} to this key on ${relay.url} (fingerprint ${fp}); the old key holds no name there now`);
    else ctx.out.info(`registered ${name} on ${relay.url} (fingerprint ${fp})`);
    if (makeDefault && before !== undefined) ctx.out.info(`your default relay is now ${relay.url} (was ${before})`);
    else if (makeDefault) ctx.out.info(`${relay.url} is your default relay now`);
    else if (before !== relay.url) ctx.out.info(`your default relay stays ${before}; pass --default to make ${relay.url} the default`);
  }
  tip(ctx, 'next: hush send NAME "text" to write to someone, hush listen (or hush pull) to read');
};
