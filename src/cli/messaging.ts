/**
 * What the messaging commands (register, send, pull, listen) share: the relay URL, unlocking
 * and opening the store, the Messenger with its stderr notices, and how a received message or
 * a quarantined envelope is printed.
 *
 * Test-only: HUSH_TEST_CRASH=after-store makes pull/listen SIGKILL themselves right after a
 * received batch is committed and before it is acked (README, environment variables).
 */
import { UsageError } from '../errors.js';
import { wipeIdentity } from '../crypto/identity.js';
import { Messenger, type QuarantineReport, type ReceivedMessage } from '../client/messenger.js';
import { type Config, readConfig, resolveRelay, type RelaySource } from '../store/config.js';
import type { Unlocked } from '../store/keyring-store.js';
import type { HushPaths } from '../store/paths.js';
import type { CommandContext } from './commands/index.js';
import { homePaths, unlockHome } from './common.js';
import { formatTime, openStore, plural, safeText } from './format.js';
import type { Output } from './output.js';

export interface RelayChoice {
  url: string;
  source: RelaySource;
  config: Config;
}

/** The relay from --relay / HUSH_RELAY / config.json; UsageError NO_RELAY when none. */
export async function requireRelay(ctx: CommandContext, paths: HushPaths): Promise<RelayChoice> {
  const config = await readConfig(paths);
  const r = resolveRelay(ctx.global.relay, ctx.env, config);
  if (!r) throw new UsageError('NO_RELAY', 'no relay is configured', { hint: 'pass --relay ws://HOST:PORT or set HUSH_RELAY' });
  return { ...r, config };
}

export interface Session {
  m: Messenger;
  paths: HushPaths;
  unlocked: Unlocked;
  relay: RelayChoice;
  close(): Promise<void>;
}

/**
 * Relay first (a missing one fails before any passphrase), then unlock, then the store.
 * `readReceipts: false` (--no-read-receipts) or config `readReceipts: false` turns read
 * receipts off; delivered receipts are always sent.
 */
export async function openSession(ctx: CommandContext, o: { readReceipts?: unknown } = {}): Promise<Session> {
  const paths = await homePaths(ctx);
  const relay = await requireRelay(ctx, paths);
  const { unlocked } = await unlockHome(ctx, paths);
  const store = openStore(paths, unlocked);
  const crash = ctx.env.HUSH_TEST_CRASH === 'after-store';
  const m = new Messenger({
    identity: unlocked.identity,
    name: unlocked.file.name,
    store,
    relayUrl: relay.url,
    readReceipts: o.readReceipts !== false && relay.config.readReceipts !== false,
    ...(crash ? { afterStore: () => process.kill(process.pid, 'SIGKILL') } : {}),
  });
  let warnedReceipt = false;
  m.on('receiptIgnored', (r) => {
    if (warnedReceipt) return; // one line per run at most
    warnedReceipt = true;
    ctx.out.warn(`ignored a receipt from ${r.from} that matches no message you sent to ${r.from}`);
  });
  m.on('pinned', (p) => ctx.out.info(`hush: pinned ${p.name}'s key on first use (fingerprint ${p.fingerprint}); compare it with hush verify ${p.name}`));
  return {
    m,
    paths,
    unlocked,
    relay,
    async close() {
      try {
        await m.close();
      } finally {
        store.close();
        wipeIdentity(unlocked.identity);
      }
    },
  };
}

/** One received message: human `2026-11-23 20:40  bob: text`, or the JSON event. */
export function printMessage(out: Output, msg: ReceivedMessage): void {
  out.data({ event: 'message', id: msg.id, from: msg.from, to: msg.to, time: msg.time, body: msg.body }, () => {
    const head = `${formatTime(msg.time)}  ${msg.from}: `;
    const lines = safeText(msg.body).split('\n');
    return [out.c.dim(formatTime(msg.time)) + `  ${out.c.bold(msg.from)}: ${lines[0]}`, ...lines.slice(1).map((l) => ' '.repeat(head.length) + l)].join('\n');
  });
}

/** The JSON line for a quarantined envelope (human mode: nothing on stdout). */
export function printQuarantinedJson(out: Output, q: QuarantineReport): void {
  if (out.json) out.data({ event: 'quarantined', reason: q.reason, eid: q.eid, from: q.from ?? null }, '');
}

/** One stderr warning per (reason, sender) group. */
export function warnQuarantined(out: Output, list: readonly QuarantineReport[]): void {
  const groups = new Map<string, { reason: string; from?: string; n: number }>();
  for (const q of list) {
    const k = `${q.reason}\u0000${q.from ?? ''}`;
    const g = groups.get(k) ?? { reason: q.reason, ...(q.from === undefined ? {} : { from: q.from }), n: 0 };
    g.n++;
    groups.set(k, g);
  }
  for (const g of groups.values()) {
    const what = plural(g.n, 'message');
    const from = g.from === undefined ? '' : ` from ${g.from}`;
    if (g.reason === 'KEY_CHANGED') {
      out.warn(`${what}${from} kept in quarantine: ${g.from ?? 'the sender'}'s key has changed since you pinned it; verify it, then run hush trust ${g.from ?? 'NAME'}`);
    } else if (g.reason === 'UNKNOWN_SENDER') {
      out.warn(`${what} from a key unknown to you and to the relay kept in quarantine`);
    } else if (g.reason === 'TAMPERED' || g.reason === 'UNSUPPORTED_VERSION') {
      out.warn(`${what}${from} could not be opened (may be corrupted or tampered with); kept in quarantine`);
    } else {
      out.warn(`${what}${from} kept in quarantine (${g.reason.toLowerCase().replace(/_/g, ' ')})`);
    }
  }
}
