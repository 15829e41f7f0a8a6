/**
 * What the messaging commands (register, send, pull, listen) share: the relay URL, unlocking
 * and opening the store, the Messenger with its stderr notices, and how a received message or
 * a quarantined envelope is printed.
 *
 * Test-only: HUSH_TEST_CRASH=after-store makes pull/listen SIGKILL themselves right after a
 * received batch is committed and before it is acked (README, environment variables).
 */
import { UsageError } from '../errors.js';
import { DEFAULT_TOKEN_LIFETIME_MS } from '../client/delivery-tokens.js';
import { wipeIdentity } from '../crypto/identity.js';
import { bodyForDisplay, fileJson, fileOf, fileSummary } from './file-view.js';
import { Messenger, type MessengerEvents, type QuarantineReport, type ReceivedMessage } from '../client/messenger.js';
import type { HushStore } from '../store/db.js';
import { checkRelayUrl, type Config, readConfig, resolveRelay, type RelaySource } from '../store/config.js';
import type { Unlocked } from '../store/keyring-store.js';
import type { HushPaths } from '../store/paths.js';
import type { CommandContext } from './commands/index.js';
import { homePaths, unlockHome } from './common.js';
import { canonicalOrAsIs } from '../protocol/frames.js';
import { formatTime, openStore, plural, safeName, safeText } from './format.js';
import { parseQuarantineLimits } from './quarantine-limits.js';
import { parseRatchetLimits } from './ratchet-limits.js';
import { parseReceiptDelay } from './receipt-delay.js';
import { lookalikeOf } from '../client/lookalike.js';
import { DEFAULT_PREKEY_POLICY, type PrekeyPolicy } from '../client/prekeys.js';
import type { Output } from './output.js';

export interface RelayChoice {
  url: string;
  source: RelaySource;
  config: Config;
}

/** Default wait for the relay to greet or answer one request (ms). */
export const DEFAULT_RELAY_TIMEOUT_MS = 15_000;

/**
 * --relay-timeout / HUSH_RELAY_TIMEOUT: a duration (`500ms`, `15s`, `2m`; a bare number is
 * seconds) from 100 ms to 10 min; UsageError BAD_RELAY_TIMEOUT (exit 2) otherwise.
 */
export function relayTimeoutMs(ctx: CommandContext): number {
  const raw = ctx.global.relayTimeout ?? ctx.env.HUSH_RELAY_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_RELAY_TIMEOUT_MS;
  const m = /^(\d{1,7})(ms|s|m)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
  if (!(ms >= 100 && ms <= 600_000)) {
    throw new UsageError('BAD_RELAY_TIMEOUT', `the relay timeout must be a duration from 100ms to 10m, not '${raw.slice(0, 40)}'`, { hint: 'e.g. --relay-timeout 30s' });
  }
  return ms;
}

/**
 * --token-lifetime / HUSH_TOKEN_LIFETIME: a duration (`30s`, `15m`, `12h`, `7d`; a bare number
 * is seconds) from 1 s to 90 d; UsageError BAD_TOKEN_LIFETIME (exit 2) otherwise.
 */
export function tokenLifetimeMs(ctx: CommandContext): number {
  const raw = ctx.global.tokenLifetime ?? ctx.env.HUSH_TOKEN_LIFETIME;
  if (raw === undefined || raw === '') return DEFAULT_TOKEN_LIFETIME_MS;
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(raw.trim());
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = m ? Number(m[1]) * unit[m[2] ?? 's']! : NaN;
  if (!(ms >= 1000 && ms <= 90 * 86_400_000)) {
    throw new UsageError('BAD_TOKEN_LIFETIME', `the delivery token lifetime must be a duration from 1s to 90d, not '${raw.slice(0, 40)}'`, { hint: 'e.g. --token-lifetime 7d' });
  }
  return ms;
}

/** A duration `30s`, `15m`, `12h`, `7d` (a bare number is seconds) from 1 s to 365 d, or undefined for none. */
function durationMs(raw: string | undefined, code: string, what: string, example: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(raw.trim());
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = m ? Number(m[1]) * unit[m[2] ?? 's']! : NaN;
  if (!(ms >= 1000 && ms <= 365 * 86_400_000)) {
    throw new UsageError(code, `${what} must be a duration from 1s to 365d, not '${raw.slice(0, 40)}'`, { hint: `e.g. ${example}` });
  }
  return ms;
}

/**
 * The prekey policy: --prekey-rotation, else config signedPrekeyRotation, else 7 d (UsageError
 * BAD_PREKEY_ROTATION); --prekey-grace, else config signedPrekeyGrace, else 7 d (BAD_PREKEY_GRACE).
 */
export function prekeyPolicy(ctx: CommandContext, cfg: Config): PrekeyPolicy {
  const rotateMs = durationMs(ctx.global.prekeyRotation ?? cfg.signedPrekeyRotation, 'BAD_PREKEY_ROTATION', 'the signed prekey rotation', '--prekey-rotation 7d');
  const graceMs = durationMs(ctx.global.prekeyGrace ?? cfg.signedPrekeyGrace, 'BAD_PREKEY_GRACE', 'the signed prekey grace period', '--prekey-grace 7d');
  return { ...DEFAULT_PREKEY_POLICY, ...(rotateMs === undefined ? {} : { rotateMs }), ...(graceMs === undefined ? {} : { graceMs }) };
}

/** The relay from --relay / HUSH_RELAY / config.json; UsageError NO_RELAY when none. */
export async function requireRelay(ctx: CommandContext, paths: HushPaths): Promise<RelayChoice> {
  const config = await readConfig(paths);
  const r = resolveRelay(ctx.global.relay, ctx.env, config);
  if (!r) throw new UsageError('NO_RELAY', 'no relay is configured', { hint: 'pass --relay ws://HOST:PORT or set HUSH_RELAY' });
  return { ...r, config };
}

/**
 * config.json relayFallbacks (validated: BAD_RELAY_URL), when the relay in use is the one
 * config.json names: they are other URLs of that deployment, not of a relay given by --relay.
 */
export function relayFallbacks(relay: RelayChoice): string[] {
  const own = relay.config.relay;
  if (own === undefined || relay.config.relayFallbacks === undefined) return [];
  if (canonicalOrAsIs(checkRelayUrl(own, 'config.json relay')) !== canonicalOrAsIs(relay.url)) return [];
  return relay.config.relayFallbacks.map((u, i) => checkRelayUrl(u, `config.json relayFallbacks[${i}]`));
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
 * receipts off; `deliveryReceipts: false` (--no-delivery-receipts) or config
 * `deliveryReceipts: false` turns delivered receipts off. `receiptDelay` (--receipt-delay, else
 * config `receiptDelay`, else 5-60 s) bounds the random wait before a receipt leaves.
 */
export async function openSession(
  ctx: CommandContext,
  o: { readReceipts?: unknown; deliveryReceipts?: unknown; receiptDelay?: unknown; quarantineLimits?: unknown; ratchetLimits?: unknown } = {},
): Promise<Session> {
  const paths = await homePaths(ctx);
  const relay = await requireRelay(ctx, paths);
  const timeoutMs = relayTimeoutMs(ctx);
  const tokenLifetime = tokenLifetimeMs(ctx);
  const prekeys = prekeyPolicy(ctx, relay.config);
  const requireForwardSecrecy = ctx.global.requireFs === true || relay.config.requireForwardSecrecy === true;
  const limits = parseQuarantineLimits(typeof o.quarantineLimits === 'string' ? o.quarantineLimits : relay.config.quarantineLimits);
  const ratchetLimits = parseRatchetLimits(typeof o.ratchetLimits === 'string' ? o.ratchetLimits : relay.config.ratchetLimits);
  const receiptDelay = parseReceiptDelay(typeof o.receiptDelay === 'string' ? o.receiptDelay : relay.config.receiptDelay);
  const { unlocked } = await unlockHome(ctx, paths);
  const store = openStore(paths, unlocked);
  // Contacts pinned before hush recorded where a key came from were pinned from the default relay.
  store.adoptRelay(canonicalOrAsIs(relay.config.relay ?? relay.url));
  const crash = ctx.env.HUSH_TEST_CRASH === 'after-store';
  const m = new Messenger({
    identity: unlocked.identity,
    name: unlocked.file.name,
    store,
    relayUrl: relay.url,
    fallbackUrls: relayFallbacks(relay),
    readReceipts: o.readReceipts !== false && relay.config.readReceipts !== false,
    deliveryReceipts: o.deliveryReceipts !== false && relay.config.deliveryReceipts !== false,
    receiptDelay,
    quarantineLimits: limits,
    ratchetLimits,
    timeoutMs,
    tokenLifetimeMs: tokenLifetime,
    prekeyPolicy: prekeys,
    requireForwardSecrecy,
    ...(ctx.backend ? { shownAfter: ctx.backend.shownAfter() } : {}),
    // Committed and shown: printed before the ack leaves (Output holds a batch's lines until then).
    afterStore: () => {
      ctx.out.flush();
      if (crash) process.kill(process.pid, 'SIGKILL');
    },
  });
  let warnedReceipt = false;
  m.on('receiptIgnored', (r) => {
    if (warnedReceipt) return; // one line per run at most
    warnedReceipt = true;
    ctx.out.warn(`ignored a receipt from ${r.from} that matches no message you sent to ${r.from}`);
  });
  m.on('quarantineFull', (q) => ctx.out.warn(`the quarantine is at its limits: dropped ${plural(q.dropped, 'oldest entry', 'oldest entries')} (see --quarantine-limits)`));
  m.on('protocol', (e) => printSendNote(ctx.out, store, { kind: 'protocol', e }));
  m.on('routed', (e) => printSendNote(ctx.out, store, { kind: 'routed', e }));
  m.on('pinned', (e) => printSendNote(ctx.out, store, { kind: 'pinned', e }));
  return {
    m,
    paths,
    unlocked,
    relay,
    async close() {
      try {
        await m.close();
      } finally {
        ctx.backend?.shown(m.shownUpTo);
        store.close();
        wipeIdentity(unlocked.identity);
      }
    },
  };
}

/** What a send tells the user about a recipient while resolving it (printed on stderr). */
export type SendNote =
  { kind: 'protocol'; e: MessengerEvents['protocol'][0] } | { kind: 'routed'; e: MessengerEvents['routed'][0] } | { kind: 'pinned'; e: MessengerEvents['pinned'][0] };

/**
 * Prints one note: the protocol in use changed, a contact routed through this relay, a key
 * pinned on first use (and a loud warning when its name looks like an earlier contact's).
 * `hush daemon` replays the notes of its shared sender to the client that caused them.
 */
export function printSendNote(out: Output, store: HushStore, n: SendNote): void {
  if (n.kind === 'protocol') {
    const p = n.e;
    out.info(
      p.v2
        ? `hush: note: messages to ${safeName(p.to)} now go in a v2 session (forward secrecy)`
        : `hush: note: ${safeName(p.to)} ${p.reason === 'expired-prekeys' ? 'has only expired prekeys' : 'has published no prekeys'}: messages to ${safeName(p.to)} use protocol v1 (no forward secrecy; --require-fs refuses this)`,
    );
    return;
  }
  if (n.kind === 'routed') {
    out.info(`hush: note: ${n.e.label} was pinned from ${n.e.pinnedFrom}; sending to that key through ${n.e.via}`);
    return;
  }
  const p = n.e;
  out.info(`hush: pinned ${p.name}'s key on first use (fingerprint ${p.fingerprint}); compare it with hush verify ${p.name}`);
  // A name that looks like an earlier contact's (bob_, bob0, b0b for bob): say so loudly.
  const pinned = store.findContactByLabel(p.name);
  const earlier = pinned
    ? store
        .listContacts()
        .filter((c) => c.id < pinned.id)
        .sort((a, b) => a.id - b.id)
    : [];
  const like = pinned
    ? lookalikeOf(
        pinned.name,
        earlier.map((c) => c.name),
      )
    : undefined;
  const other = like === undefined ? undefined : earlier.find((c) => c.name === like);
  if (other) out.warn(`${safeName(p.name)} looks like your contact ${safeName(other.label)}; compare fingerprints (hush verify ${safeName(p.name)})`);
}

/** One received message: human `2026-11-23 20:40  bob: text`, or the JSON event. */
export function printMessage(out: Output, msg: ReceivedMessage): void {
  const file = fileOf(msg.body);
  if (file?.ok) {
    // A file: `bob sent report.pdf (2.1 MiB)` and how to save it; never its key.
    out.data({ event: 'file', id: msg.id, from: msg.from, to: msg.to, time: msg.time, file: fileJson(file.d) }, () => {
      const text = file.d.text === undefined ? '' : `\n${' '.repeat(formatTime(msg.time).length + 2)}${safeText(file.d.text)}`;
      return `${out.c.dim(formatTime(msg.time))}  ${out.c.bold(msg.from)} sent ${safeText(fileSummary(file.d))}  (hush save ${msg.id.slice(0, 12)})${text}`;
    });
    return;
  }
  const body = bodyForDisplay(msg.body);
  out.data({ event: 'message', id: msg.id, from: msg.from, to: msg.to, time: msg.time, body }, () => {
    const head = `${formatTime(msg.time)}  ${msg.from}: `;
    const lines = safeText(body).split('\n');
    return [out.c.dim(formatTime(msg.time)) + `  ${out.c.bold(msg.from)}: ${lines[0]}`, ...lines.slice(1).map((l) => ' '.repeat(head.length) + l)].join('\n');
  });
}

/**
 * The JSON line for a quarantined envelope (human mode: nothing on stdout). `from` is always
 * null: quarantined mail never comes from a trusted contact. `claimedKey` is the sender key the
 * envelope claims (base64, null when its outer layer did not open); `claimedName` the contact
 * label an AUTHENTICATED but untrusted key claims (KEY_CHANGED, REJECTED_KEY), else null.
 */
export function printQuarantinedJson(out: Output, q: QuarantineReport): void {
  if (out.json) out.data(quarantinedEvent(q), '');
}

/** The quarantined event's fields, as `pull --json`, `listen --json` and the daemon's `subscribe` give them. */
export function quarantinedEvent(q: QuarantineReport): Record<string, unknown> {
  return {
    event: 'quarantined',
    reason: q.reason,
    eid: q.eid,
    from: null,
    claimedKey: q.claimedKey ?? null,
    claimedName: q.claimedName ?? null,
    authenticated: q.authenticated,
    ...(q.group === undefined ? {} : { group: q.group }),
  };
}

/** One stderr warning per (reason, claimed name) group. */
export function warnQuarantined(out: Output, list: readonly QuarantineReport[]): void {
  const groups = new Map<string, { reason: string; name?: string; group?: string; n: number }>();
  for (const q of list) {
    const k = `${q.reason}\u0000${q.claimedName ?? ''}\u0000${q.group ?? ''}`;
    const g = groups.get(k) ?? {
      reason: q.reason,
      ...(q.claimedName === undefined ? {} : { name: safeName(q.claimedName) }),
      ...(q.group === undefined ? {} : { group: safeName(q.group) }),
      n: 0,
    };
    g.n++;
    groups.set(k, g);
  }
  for (const g of groups.values()) {
    const what = plural(g.n, 'message');
    const who = g.name ?? 'NAME';
    if (g.reason === 'KEY_CHANGED') {
      out.warn(
        `${what} signed by a NEW key claiming to be ${who} kept in quarantine, not shown; compare it (hush verify ${who}), then hush trust ${who} to accept it, or hush trust ${who} --reject`,
      );
    } else if (g.reason === 'REJECTED_KEY') {
      out.warn(`${what} signed by the key you refused for ${who} kept in quarantine, not shown`);
    } else if (g.reason === 'UNKNOWN_SENDER') {
      out.warn(`${what} from a key unknown to you and to the relay kept in quarantine, not shown`);
    } else if (g.reason === 'TOO_MANY_SKIPPED') {
      out.warn(
        `${what} would skip more message keys of a v2 session than max-skip allows (messages lost or held back in between, or forged) kept in quarantine, not shown; the session is unchanged (--ratchet-limits)`,
      );
    } else if (g.reason === 'DOWNGRADE') {
      out.warn(
        `${what} claiming to be from ${who} sent with protocol v1, though ${who} writes to you in a v2 session, kept in quarantine, not shown (DOWNGRADE: v1 could have been forged with a copy of your keys); if ${who} really sent it, ask them to send it again`,
      );
    } else if (g.reason === 'PREKEY_EXPIRED') {
      out.warn(
        `${what} starting a v2 session with a prekey this home no longer holds (replaced longer ago than its grace period, or dropped) kept in quarantine, not shown (PREKEY_EXPIRED: mail that waited that long, a replay, or forged; with --json, claimedKey is the key it claims); if a contact's messages stop arriving, write to them`,
      );
    } else if (g.reason === 'NO_FORWARD_SECRECY') {
      out.warn(`${what} from ${who} sent with protocol v1 (no forward secrecy) kept in quarantine, not shown (--require-fs / config requireForwardSecrecy)`);
    } else if (g.reason === 'EPOCH_GAP') {
      out.warn(
        `${what} from ${who} changing @${g.group ?? 'NAME'} at an epoch after a change this home never got (EPOCH_GAP) kept in quarantine, not applied and not retried; hush group show ${g.group ?? 'NAME'} lists the members as this home knows them; to catch up, hush group leave ${g.group ?? 'NAME'} and have a member add you again`,
      );
    } else if (g.reason === 'NOT_A_MEMBER' || g.reason === 'UNKNOWN_GROUP' || g.reason === 'BAD_GROUP_MESSAGE') {
      const why = g.reason === 'NOT_A_MEMBER' ? 'for a group it is not a member of (at that epoch)' : g.reason === 'UNKNOWN_GROUP' ? 'for a group you do not hold' : 'malformed';
      out.warn(`${what} from ${who} ${why} (${g.reason}) kept in quarantine, not shown`);
    } else if (g.reason === 'FROM_SELF') {
      out.warn(`${what} signed by your own key kept in quarantine, not shown`);
    } else {
      out.warn(`${what} could not be opened or authenticated (may be corrupted, tampered with, or forged); kept in quarantine, not shown`);
    }
  }
}
