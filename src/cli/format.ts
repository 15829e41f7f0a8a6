/**
 * Formatting, option parsing and store opening shared by the CLI commands. The one terminal
 * sanitizer (safeText) and time format live here, so pull, listen, chat and history print the
 * same way; this module loads no relay code, so the local-only commands (history, contacts,
 * verify) do not import ws.
 */
import { UsageError } from '../errors.js';
import { type Contact, HushStore } from '../store/db.js';
import { fingerprint } from '../crypto/fingerprint.js';
import { type Identity, wipeIdentity } from '../crypto/identity.js';
import type { CommandContext } from './commands/index.js';
import { unlockHome } from './common.js';
import type { Unlocked } from '../store/keyring-store.js';
import { assertStoreWritable, type HushPaths } from '../store/paths.js';

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time as `2026-11-23 20:40`. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/**
 * Makes received text safe for a terminal: control characters (escape sequences included)
 * other than newline and tab become U+FFFD, so a message cannot drive the terminal.
 */
export function safeText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd');
}

/** Opens the home's store with the unlocked history key; wipes the identity if that fails. */
export function openStore(paths: HushPaths, unlocked: Unlocked): HushStore {
  try {
    assertStoreWritable(paths); // a clear exit 2 for a read-only home (src/store/paths.ts)
    return HushStore.open(paths.home, unlocked.identity.historyKey);
  } catch (e) {
    wipeIdentity(unlocked.identity);
    throw e;
  }
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const ISO_RE = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,3})?)?(?:Z|[+-]\d\d:?\d\d)?)?$/;

/**
 * --since TIME: ISO 8601 (`2026-11-23`, `2026-11-23T20:40`, `2026-11-23T20:40:00Z`; without a
 * zone it is local time) or a duration back from `now` (`30s`, `15m`, `2h`, `7d`, `2w`).
 * Returns ms since the epoch; UsageError BAD_TIME otherwise.
 */
export function parseSince(text: string, now: number = Date.now()): number {
  const t = text.trim();
  const rel = /^(\d{1,9})([smhdw])$/.exec(t);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]!]!;
  if (ISO_RE.test(t)) {
    // Date.parse reads a date-only string as UTC; a bare date means local midnight here.
    const ms = /^\d{4}-\d\d-\d\d$/.test(t) ? new Date(`${t}T00:00`).getTime() : Date.parse(t.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError('BAD_TIME', `cannot read the time '${text}'`, { hint: 'use ISO 8601 (2026-11-23 or 2026-11-23T20:40) or a duration like 30s, 15m, 2h, 7d' });
}

/** --limit N: a whole number from 1 to 1000000; UsageError BAD_LIMIT otherwise. */
export function parseLimit(text: string): number {
  const t = text.trim();
  if (!/^\d{1,7}$/.test(t) || Number(t) < 1 || Number(t) > 1_000_000) {
    throw new UsageError('BAD_LIMIT', `the limit must be a whole number from 1 to 1000000, not '${text}'`);
  }
  return Number(t);
}

/** The trust state a person reads: verified / unverified / changed (a new key waits). */
export type TrustLabel = 'verified' | 'unverified' | 'changed';

export function trustLabel(c: Contact): TrustLabel {
  if (c.state === 'changed') return 'changed';
  return c.verified ? 'verified' : 'unverified';
}

/** The human text for a trust state: `verified`, `unverified`, `KEY CHANGED`. */
export function trustText(c: Contact): string {
  const l = trustLabel(c);
  return l === 'changed' ? 'KEY CHANGED' : l;
}

/** The fingerprint of the key waiting for `hush trust` (undefined when none). */
export function pendingFingerprint(c: Contact): string | undefined {
  return c.pendingBundle ? fingerprint(c.pendingBundle.signPk) : undefined;
}

/** UsageError UNKNOWN_CONTACT for a name that is not pinned in this home. */
export function unknownContact(name: string): UsageError {
  return new UsageError('UNKNOWN_CONTACT', `${name} is not one of your contacts`, {
    hint: 'hush contacts lists them; a key is pinned when you first send to or hear from someone',
  });
}

/** A safety number (12 groups) as rows of `perRow` groups. */
export function safetyRows(sn: string, perRow = 4): string[] {
  const groups = sn.split(' ');
  const rows: string[] = [];
  for (let i = 0; i < groups.length; i += perRow) rows.push(groups.slice(i, i + perRow).join(' '));
  return rows;
}

/** Pads `s` to `width` visible characters (plain text only). */
export function pad(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/** A name for a terminal: sanitised (names are validated, but contacts come from others). */
export function safeName(s: string): string {
  return safeText(s).replace(/[\n\t]/g, ' ');
}

/**
 * Unlocks the home and opens its store, for the commands that need no relay (history,
 * contacts, verify, trust). close() closes the store and wipes the identity.
 */
export async function openLocal(ctx: CommandContext): Promise<{ store: HushStore; identity: Identity; myName: string; close(): void }> {
  const { paths, unlocked } = await unlockHome(ctx);
  const store = openStore(paths, unlocked);
  return {
    store,
    identity: unlocked.identity,
    myName: unlocked.file.name,
    close() {
      try {
        store.close();
      } finally {
        wipeIdentity(unlocked.identity);
      }
    },
  };
}
