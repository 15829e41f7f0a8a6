/**
 * Two v2 promises of issue #12 that the first audit found broken, through the real binary and a
 * real relay process:
 *
 * - impersonation: bob's stolen keyring (and passphrase), without his store, cannot make bob's
 *   CLI show a message as from alice once alice writes to him in v2. v1's inner box opens with
 *   bob's box key as well as alice's, so a v1 envelope claiming alice is refused as a downgrade
 *   (`DOWNGRADE`: kept in quarantine, never shown); our own receipts sealed in v1 before a
 *   session existed leave before anything the new session seals, so the rule never catches them;
 * - a recipient offline past its signed prekey's expiry AND the grace period still opens the mail
 *   that waited for it: its device replaces the key only when it runs, and the grace counts from
 *   then (before, the key was deleted at `expires + grace` and what waited was dropped);
 * - a `listen` that stays connected keeps its prekeys: the relay's one-time pool is refilled and
 *   the signed prekey rotated while it runs (before, only on connect); a relay that lost a
 *   home's signed and last-resort prekeys gets them back at its next pull.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxBefore, randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { utf8 } from '../../src/protocol/encoding.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { cleanupTmp, makeUser, registerUsers, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { historyOf, jsonOf, newUser, openStore, PASS, spawnHush, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let dave: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, dave] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url), newUser('dave', relay.url)]);
}, 120_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** A home's identity from its keyring file and passphrase alone (what a thief of keyring.json has). */
async function keyringOf(u: TestUser): Promise<Awaited<ReturnType<typeof unlock>>['identity']> {
  return (await unlock(hushPaths(u.home), { env: { HUSH_PASSPHRASE: PASS } })).identity;
}

const bodies = (stdout: string): unknown[] =>
  jsonOf(stdout)
    .filter((e) => e.event === 'message')
    .map((m) => m.body);

describe('v2: downgrades and long-offline recipients', () => {
  it('a v1 message forged with bob’s stolen keyring as from alice is not shown once alice writes in v2 (DOWNGRADE)', async () => {
    const sent = await alice.run(['send', 'bob', '--json', 'the real alice']);
    expect(jsonOf(sent.stdout)).toMatchObject([{ protocol: 2 }]);
    expect(bodies((await bob.run(['pull', '--json'])).stdout)).toEqual(['the real alice']);

    // The thief: bob's keyring.json and passphrase; alice's public keys (from any bundle).
    const b = await keyringOf(bob);
    const a = await keyringOf(alice); // only its public keys are used below
    const asAlice = { signPk: a.signPk, boxPk: a.boxPk, boxSk: randomBytes(32) }; // never used: the cache below holds the pair's key
    const pairKey = new Map([[Buffer.from(a.boxPk).toString('base64') + Buffer.from(b.boxPk).toString('base64'), boxBefore(a.boxPk, b.boxSk)]]);
    const forged = sealEnvelope(asAlice, b, { kind: 'msg', id: randomBytes(16), time: Date.now(), body: utf8('pay mallory 100') }, randomBytes, pairKey);
    const mallory = makeUser('mallory');
    await registerUsers(relay.url, mallory);
    const c = await mallory.connect(relay.url);
    await c.send(b.signPk, forged);
    await c.close();

    const p = await bob.run(['pull', '--json']);
    expect(p.exitCode).toBe(0);
    expect(bodies(p.stdout)).toEqual([]);
    expect(jsonOf(p.stdout)).toMatchObject([{ event: 'quarantined', reason: 'DOWNGRADE', from: null, claimedName: 'alice', authenticated: false }]);
    expect(p.stderr).toMatch(/claiming to be from alice sent with protocol v1, though alice writes to you in a v2 session, kept in quarantine, not shown \(DOWNGRADE/);
    expect((await historyOf(bob.home)).map((m) => m.body)).toEqual(['the real alice']);
    // The real alice goes on.
    await alice.run(['send', 'bob', 'still me']);
    expect(bodies((await bob.run(['pull', '--json'])).stdout)).toEqual(['still me']);
  });

  it('a recipient offline past its signed prekey’s expiry and grace opens what waited, then replaces the key', async () => {
    // dave rotates every 2 s (his published key expires 4 s after it is made), grace 4 s.
    const cfgFile = path.join(dave.home, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, signedPrekeyRotation: '2s', signedPrekeyGrace: '4s' }), { mode: 0o600 });
    let store = await openStore(dave.home);
    const first = store.v2.signedPrekeys()[0]!;
    store.close();
    while (Date.now() < first.createdAt + 2100) await new Promise((r) => setTimeout(r, 200));
    await dave.run(['pull']); // replaces the 7-day key, now older than 2 s, with a 2 s one and publishes it
    const sent = await alice.run(['send', 'dave', '--json', 'waiting for dave']);
    expect(jsonOf(sent.stdout)).toMatchObject([{ protocol: 2 }]);
    store = await openStore(dave.home);
    const used = store.v2.signedPrekeys()[0]!;
    store.close();
    expect(used.expires).toBeLessThan(Date.now() + 5000); // the 2 s key, not the 7-day one
    // dave stays away past that key's expiry plus the grace period.
    while (Date.now() <= used.expires + 4000 + 100) await new Promise((r) => setTimeout(r, Math.min(1000, used.expires + 4200 - Date.now())));
    // He comes back with a command that maintains his prekeys before reading mail: the key is
    // replaced now, and the grace (4 s) counts from now, not from its expiry (long past).
    expect((await dave.run(['register', '--relay', relay.url])).exitCode).toBe(0);
    const p = await dave.run(['pull', '--json']);
    expect(p.exitCode).toBe(0);
    expect(bodies(p.stdout)).toEqual(['waiting for dave']);
    expect(jsonOf(p.stdout).filter((e) => e.event === 'quarantined')).toEqual([]);
    // Back online, dave replaced the key.
    store = await openStore(dave.home);
    const now = store.v2.signedPrekeys();
    store.close();
    expect(now[0]!.id).toBeGreaterThan(used.id);
    // The session goes on both ways.
    await dave.run(['send', 'alice', 'back']);
    expect(bodies((await alice.run(['pull', '--json'])).stdout)).toEqual(['back']);
    await alice.run(['send', 'dave', 'welcome back']);
    expect(bodies((await dave.run(['pull', '--json'])).stdout)).toEqual(['welcome back']);
  });

  it('a listen that stays connected refills the relay’s one-time pool and rotates its signed prekey', async () => {
    const erin = await newUser('erin', relay.url);
    const { signPk } = await keyringOf(erin);
    const relayDb = (): Database.Database => new Database(path.join(relay.dataDir, 'relay.sqlite'), { readonly: true });
    const onRelay = (): { opks: number; spkId: number } => {
      const db = relayDb();
      try {
        const opks = (db.prepare('SELECT count(*) AS n FROM prekey_opk WHERE sign_pk = ?').get(signPk) as { n: number }).n;
        const spk = db.prepare('SELECT spk_id FROM prekey_signed WHERE sign_pk = ?').get(signPk) as { spk_id: number };
        return { opks, spkId: spk.spk_id };
      } finally {
        db.close();
      }
    };
    const before = onRelay();
    expect(before.opks).toBe(100);
    // Rotation every 4 s: listen checks its prekeys every second (a quarter of it).
    const listen = spawnHush(erin.home, ['listen', '--json', '--prekey-rotation', '4s']);
    try {
      await listen.stderr.waitFor(/^hush: listening on ws:\/\/\S+ as erin$/);
      // 90 one-time prekeys handed out while it listens (below the refill mark of 20).
      const rw = new Database(path.join(relay.dataDir, 'relay.sqlite'));
      rw.prepare('DELETE FROM prekey_opk WHERE sign_pk = ? AND id IN (SELECT id FROM prekey_opk WHERE sign_pk = ? ORDER BY id LIMIT 90)').run(signPk, signPk);
      rw.close();
      let now = onRelay();
      for (let i = 0; i < 100 && !(now.opks === 100 && now.spkId > before.spkId); i++) {
        await new Promise((r) => setTimeout(r, 200));
        now = onRelay();
      }
      expect(now.opks).toBe(100);
      expect(now.spkId).toBeGreaterThan(before.spkId);
    } finally {
      listen.kill();
      await listen.done;
    }
  });

  it('a relay that lost a home’s signed and last-resort prekeys (restored from a backup) gets them back at the next pull', async () => {
    const { signPk } = await keyringOf(bob);
    const rw = new Database(path.join(relay.dataDir, 'relay.sqlite'));
    try {
      rw.prepare('DELETE FROM prekey_signed WHERE sign_pk = ?').run(signPk);
    } finally {
      rw.close();
    }
    // Without them nobody can start a session with bob: a new contact gets v1.
    const frank = await newUser('frank', relay.url);
    const before = await frank.run(['send', 'bob', '--json', 'while the relay had none']);
    expect(jsonOf(before.stdout)).toMatchObject([{ protocol: 1 }]);
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const ro = new Database(path.join(relay.dataDir, 'relay.sqlite'), { readonly: true });
    let row: { spk_id: number | null; lr_id: number | null } | undefined;
    try {
      row = ro.prepare('SELECT spk_id, lr_id FROM prekey_signed WHERE sign_pk = ?').get(signPk) as typeof row;
    } finally {
      ro.close();
    }
    const store = await openStore(bob.home);
    const spk = store.v2.signedPrekeys()[0]!;
    store.close();
    expect(row?.spk_id).toBe(spk.id);
    expect(row?.lr_id).not.toBeNull();
    const after = await frank.run(['send', 'bob', '--json', 'v2 again']);
    expect(jsonOf(after.stdout)).toMatchObject([{ protocol: 2 }]);
  });

  it('receipts sealed in v1 before a session existed leave before the first v2 message: no DOWNGRADE, the status moves', async () => {
    const [gina, hal] = await Promise.all([newUser('gina', relay.url), newUser('hal', relay.url)]);
    // Their prekeys vanish from the relay: they can only write to each other in v1.
    const rw = new Database(path.join(relay.dataDir, 'relay.sqlite'));
    try {
      for (const u of [gina, hal]) {
        const { signPk } = await keyringOf(u);
        for (const t of ['prekey_signed', 'prekey_opk', 'prekey_kem']) rw.prepare(`DELETE FROM ${t} WHERE sign_pk = ?`).run(signPk);
      }
    } finally {
      rw.close();
    }
    expect(jsonOf((await gina.run(['send', 'hal', '--json', 'hello'])).stdout)).toMatchObject([{ protocol: 1 }]);
    expect(bodies((await hal.run(['pull', '--json'])).stdout)).toEqual(['hello']); // his pull puts his prekeys back
    const m0 = await hal.run(['send', 'gina', '--json', 'm0']);
    expect(jsonOf(m0.stdout)).toMatchObject([{ protocol: 1 }]);
    // gina reads it: her delivered and read receipts are sealed now, in v1 (no session), to
    // leave in 30 s; she answers at once, in a v2 session she starts with hal's prekeys.
    expect(bodies((await gina.run(['pull', '--json', '--receipt-delay', '30s'])).stdout)).toEqual(['m0']);
    const reply = await gina.run(['send', 'hal', '--json', 'answered at once']);
    expect(jsonOf(reply.stdout)).toMatchObject([{ protocol: 2 }]);
    const p = await hal.run(['pull', '--json']);
    expect(jsonOf(p.stdout).filter((e) => e.event === 'quarantined')).toEqual([]);
    expect(bodies(p.stdout)).toEqual(['answered at once']);
    expect((await historyOf(hal.home)).find((m) => m.body === 'm0')?.status).toBe('read');
  });
});
