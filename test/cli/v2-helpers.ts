/**
 * Shared helpers of the protocol v2 CLI tests (v2-sessions, v2-delivery, v2-config): what a
 * thief of the relay's database or of a home holds, and the relay's own tables. The envelopes
 * waiting at the relay are read from its relay.sqlite (what a relay thief copies); a home is
 * unlocked in-process with the test passphrase (stolen with it), and envelopes are opened with
 * the stolen state in the test, not through the CLI (nothing the CLI would dedupe hides a failure).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { openMessage } from '../../src/crypto/session.js';
import type { PayloadV2 } from '../../src/protocol/session-wire.js';
import { HushStore } from '../../src/store/db.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import type { RelayProc } from '../integration/helpers.js';
import { makeHome } from './helpers.js';
import { jsonOf, PASS, type TestUser } from './messaging-helpers.js';

export interface PublicKeys {
  signPk: Uint8Array;
  boxPk: Uint8Array;
}

export interface Thief {
  identity: { signPk: Uint8Array; boxPk: Uint8Array; boxSk: Uint8Array };
  store: HushStore;
}

/** Runs `fn` on the relay's database (read-write: a test edits it as a thief or a faulty relay would). */
export function withRelayDb<T>(relay: RelayProc, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(relay.dataDir, 'relay.sqlite'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export async function keysOf(u: TestUser): Promise<PublicKeys> {
  const k = await unlock(hushPaths(u.home), { env: { HUSH_PASSPHRASE: PASS } });
  return { signPk: k.identity.signPk, boxPk: k.identity.boxPk };
}

/** The envelopes waiting at the relay for `to`, in the relay's order (seq), as its database holds them. */
export async function captured(relay: RelayProc, to: TestUser): Promise<Uint8Array[]> {
  const { signPk } = await keysOf(to);
  return withRelayDb(relay, (db) => (db.prepare('SELECT env FROM mailbox WHERE recipient = ? ORDER BY seq').all(signPk) as { env: Buffer }[]).map((r) => new Uint8Array(r.env)));
}

/** A home's keyring unlocked with the (stolen) passphrase, and its store. Close the store. */
export async function steal(home: string): Promise<Thief> {
  const u = await unlock(hushPaths(home), { env: { HUSH_PASSPHRASE: PASS } });
  return { identity: u.identity, store: HushStore.open(home, u.identity.historyKey) };
}

/** A copy of a home (its files, not its lock files), as a thief copies it. */
export async function copyHome(from: string): Promise<string> {
  const to = await makeHome('hush-v2-copy-');
  for (const f of fs.readdirSync(from)) if (!f.startsWith('.')) fs.cpSync(path.join(from, f), path.join(to, f), { recursive: true });
  return to;
}

/**
 * Opens one envelope from `sender` with a stolen state (its sessions and prekey secrets as
 * stored; nothing is written back): the payload, or undefined when it does not open.
 */
export function openWith(thief: Thief, sender: PublicKeys, env: Uint8Array): PayloadV2 | undefined {
  const contact = thief.store.findContactBySignPk(sender.signPk);
  const sessions = contact ? thief.store.v2.sessionsOf(contact.id).map((s) => s.state) : [];
  const v2 = thief.store.v2;
  try {
    const inner = openEnvelopeV2(thief.identity.boxSk, env); // the outer layer is to the long-term box key
    return openMessage(
      thief.identity,
      sender,
      inner,
      sessions,
      { spk: (id) => v2.signedPrekey(id), kem: (id) => v2.kemPrekey(id), opk: (id) => v2.oneTimePrekey(id) },
      Date.now(),
      randomBytes,
    ).payload;
  } catch {
    return undefined; // refused: what forward secrecy promises
  }
}

/** How many of `envs` open with a stolen state. */
export function openedWith(thief: Thief, sender: PublicKeys, envs: Uint8Array[]): number {
  return envs.filter((e) => openWith(thief, sender, e) !== undefined).length;
}

/** The bodies of the `message` events of a --json pull. */
export const bodies = (stdout: string): unknown[] =>
  jsonOf(stdout)
    .filter((e) => e.event === 'message')
    .map((m) => m.body);
