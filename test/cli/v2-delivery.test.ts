/**
 * Protocol v2 delivery through the real binary and a real relay process (issue #12), where the
 * relay (or a thief of its database) misbehaves in ways the in-process tests only simulate:
 *
 * - out of order, lossy, duplicating delivery: 200 messages of an established session, the
 *   relay's mailbox rows edited in relay.sqlite (pulls are in `seq` order) to a seeded shuffle
 *   of 150 of them, 50 dropped, 20 copies among them (same envelope bytes under another eid, as
 *   a faulty relay would hand them out) and 10 more re-sent through the relay after the pull:
 *   exactly the 150 are shown and stored, once each, and the session goes on both ways;
 * - prekey exhaustion: bob's one-time X25519 pool drained on the relay (its rows deleted), a
 *   first message is still v2 (no OPK), and bob's pull tops the pool up to 100 on the relay;
 *   with the one-time ML-KEM pool drained too, sessions start on the last-resort KEM key (read
 *   from the init header of the captured envelope) and the pull refills both pools.
 *
 * Randomness that picks which messages to drop, copy and shuffle is seeded (test/seed.ts:
 * HUSH_TEST_SEED replays a run).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { parseInnerV2, type InitHeader } from '../../src/protocol/session-wire.js';
import { cleanupTmp, makeUser, registerUsers, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { seededRandom } from '../seed.js';
import { jsonOf, newUser, openStore, type TestUser } from './messaging-helpers.js';
import { bodies, captured as capturedAt, keysOf, openWith, steal, withRelayDb } from './v2-helpers.js';

let relay: RelayProc;

beforeAll(async () => {
  relay = await startRelayProcess();
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const captured = (to: TestUser): Promise<Uint8Array[]> => capturedAt(relay, to);

/** `n` distinct indexes of [0, size) drawn from `rnd` (a partial Fisher-Yates shuffle). */
function pick(rnd: { int(n: number): number }, size: number, n: number): number[] {
  const a = Array.from({ length: size }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + rnd.int(size - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

describe('out-of-order delivery', () => {
  it('200 v2 messages reordered by the relay, 50 dropped, 20 copied in the pull and 10 re-sent after it: exactly the 150 shown and stored, once each; the session goes on both ways', async () => {
    const rnd = seededRandom('v2-delivery/out-of-order');
    const why = `HUSH_TEST_SEED=${rnd.seed}`;
    const [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
    // An established session: a round trip, and bob's mailbox empty (alice's receipts read).
    await alice.run(['send', 'bob', 'hi']);
    await bob.run(['pull']);
    await bob.run(['send', 'alice', 'hey']);
    await alice.run(['pull']);
    await bob.run(['pull']);
    expect(await captured(bob)).toEqual([]);

    const lines = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const sent = await alice.run(['send', 'bob', '--lines', '--json'], { input: lines.join('\n') + '\n' });
    expect(sent.exitCode).toBe(0);
    expect(jsonOf(sent.stdout).map((e) => e.protocol)).toEqual(lines.map(() => 2));

    // The rows as the relay holds them, each labelled by what it says (opened with bob's stolen
    // state, nothing written back): the test then knows exactly which messages it drops.
    const { signPk } = await keysOf(bob);
    type Row = { eid: string; env: Buffer; size: number; time: number };
    const rows = withRelayDb(relay, (db) => db.prepare('SELECT eid, env, size, time FROM mailbox WHERE recipient = ? ORDER BY seq').all(signPk) as Row[]);
    expect(rows).toHaveLength(200);
    const thief = await steal(bob.home);
    const aliceKeys = await keysOf(alice);
    const label = rows.map((r) => new TextDecoder().decode(openWith(thief, aliceKeys, new Uint8Array(r.env))!.body));
    thief.store.close();
    expect([...label].sort()).toEqual([...lines].sort());

    const dropped = new Set(pick(rnd, 200, 50));
    const kept = rows.map((_, i) => i).filter((i) => !dropped.has(i));
    const copies = pick(rnd, kept.length, 20).map((k) => kept[k]!);
    const resent = pick(rnd, kept.length, 10).map((k) => kept[k]!);
    // The mailbox as the faulty relay serves it: the kept rows and the copies, in a seeded order.
    // A copy is the same envelope under another eid (one eid per mailbox row, UNIQUE (recipient, eid)).
    const order = [...kept.map((i) => ({ i, copy: false })), ...copies.map((i) => ({ i, copy: true }))];
    for (let k = order.length - 1; k > 0; k--) {
      const j = rnd.int(k + 1);
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    withRelayDb(relay, (db) =>
      db.transaction(() => {
        db.prepare('DELETE FROM mailbox WHERE recipient = ?').run(signPk);
        const put = db.prepare('INSERT INTO mailbox (recipient, eid, env, size, time) VALUES (?, ?, ?, ?, ?)');
        for (const { i, copy } of order) {
          const r = rows[i]!;
          const eid = copy ? createHash('sha256').update(`copy of ${r.eid}`).digest('hex').slice(0, 32) : r.eid;
          put.run(signPk, eid, r.env, r.size, r.time);
        }
      })(),
    );
    expect(await captured(bob)).toHaveLength(170);

    const p = await bob.run(['pull', '--json']);
    expect(p.exitCode, why).toBe(0);
    const shown = bodies(p.stdout) as string[];
    const want = kept.map((i) => label[i]!);
    expect(shown.length, why).toBe(150);
    // In alice's order, whatever the relay's: the 170 rows are one page, and a batch shows each
    // sender's messages in the order of their send times (src/client/inbound.ts inSendOrder).
    expect(shown, why).toEqual(lines.filter((l) => want.includes(l)));
    expect(
      jsonOf(p.stdout).filter((e) => e.event !== 'message'),
      why,
    ).toEqual([]); // nothing quarantined
    expect(await captured(bob)).toEqual([]); // every row acked, the copies too

    // Ten of the kept envelopes again, through the relay itself (a replayer's send): not shown.
    const mallory = makeUser();
    await registerUsers(relay.url, mallory);
    const c = await mallory.connect(relay.url);
    try {
      for (const i of resent) await c.send(signPk, new Uint8Array(rows[i]!.env));
    } finally {
      await c.close();
    }
    expect(await captured(bob)).toHaveLength(10);
    const again = await bob.run(['pull', '--json']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout, why).toBe('');
    expect(await captured(bob)).toEqual([]);

    // What bob's history holds: each kept message once, none of the dropped.
    const h = jsonOf((await bob.run(['history', 'alice', '--json', '--limit', '1000'])).stdout);
    const stored = h.filter((m) => m.direction === 'in' && /^m\d+$/.test(String(m.body))).map((m) => String(m.body));
    expect(stored.sort(), why).toEqual([...want].sort());

    // The session still works both ways: a reply, and an answer to it.
    await bob.run(['send', 'alice', 'got 150 of 200']);
    expect(bodies((await alice.run(['pull', '--json'])).stdout)).toEqual(['got 150 of 200']);
    const answer = await alice.run(['send', 'bob', '--json', 'the relay lost 50']);
    expect(jsonOf(answer.stdout)).toMatchObject([{ event: 'sent', protocol: 2 }]);
    expect(bodies((await bob.run(['pull', '--json'])).stdout)).toEqual(['the relay lost 50']);
  });
});

describe('prekey exhaustion', () => {
  type Pool = { opk: number; kem: number; lastResort: number | null };
  /** What the relay holds of `u`'s prekeys: one-time X25519 and ML-KEM counts, the last-resort key's id. */
  async function pool(u: TestUser): Promise<Pool> {
    const { signPk } = await keysOf(u);
    return withRelayDb(relay, (db) => {
      const n = (t: string): number => (db.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE sign_pk = ?`).get(signPk) as { n: number }).n;
      const lr = db.prepare('SELECT lr_id FROM prekey_signed WHERE sign_pk = ?').get(signPk) as { lr_id: number | null } | undefined;
      return { opk: n('prekey_opk'), kem: n('prekey_kem'), lastResort: lr?.lr_id ?? null };
    });
  }
  /** Deletes `u`'s one-time prekeys of the given tables on the relay (as if fetched away). */
  async function drain(u: TestUser, tables: string[]): Promise<void> {
    const { signPk } = await keysOf(u);
    withRelayDb(relay, (db) => {
      for (const t of tables) db.prepare(`DELETE FROM ${t} WHERE sign_pk = ?`).run(signPk);
    });
  }
  /** What `u`'s own store holds: one-time X25519, one-time ML-KEM and last-resort secrets. */
  async function local(u: TestUser): Promise<{ opk: number; kem: number; lastResort: number }> {
    const s = await openStore(u.home);
    try {
      return { opk: s.v2.count('opk'), kem: s.v2.count('kem'), lastResort: s.v2.count('lastResort') };
    } finally {
      s.close();
    }
  }
  /** Sends one message and returns the PQXDH init header of the envelope it left at the relay. */
  async function firstMessage(from: TestUser, to: TestUser, text: string): Promise<InitHeader> {
    const r = await from.run(['send', to.name, '--json', text]);
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)).toMatchObject([{ event: 'sent', to: to.name, protocol: 2 }]);
    expect(r.stderr).not.toMatch(/protocol v1/);
    const env = (await captured(to)).at(-1)!;
    const t = await steal(to.home);
    const inner = parseInnerV2(openEnvelopeV2(t.identity.boxSk, env));
    t.store.close();
    expect(inner.type).toBe('prekey');
    return inner.init!;
  }

  it('one-time X25519 prekeys drained: the first message is v2 without an OPK, bob reads it, and his pull refills the pool on the relay', async () => {
    const [carol, dave, erin] = await Promise.all([newUser('carol', relay.url), newUser('dave', relay.url), newUser('erin', relay.url)]);
    const registered = await pool(dave);
    expect(registered).toMatchObject({ opk: 100, kem: 50 });
    expect(await local(dave)).toEqual({ opk: 100, kem: 50, lastResort: 1 });
    await drain(dave, ['prekey_opk']);
    const init = await firstMessage(carol, dave, 'no one-time prekey left');
    expect(init.opkId).toBeUndefined();
    expect(init.kemId).not.toBe(registered.lastResort); // a one-time KEM key was still there
    expect(await pool(dave)).toEqual({ ...registered, opk: 0, kem: 49 });
    expect(bodies((await dave.run(['pull', '--json'])).stdout)).toEqual(['no one-time prekey left']);
    // Refilled: 100 new one-time X25519 keys on the relay (it held 0 < 20); the ML-KEM pool (49,
    // not below 10) left as it was. Locally: the 100 the relay lost are kept (under 1000) beside
    // the 100 new ones, none used; the one-time KEM key the session used is deleted.
    expect(await pool(dave)).toEqual({ ...registered, opk: 100, kem: 49 });
    expect(await local(dave)).toEqual({ opk: 200, kem: 49, lastResort: 1 });
    // The next sender gets one of the new keys, and the session works both ways.
    const next = await firstMessage(erin, dave, 'after the refill');
    expect(next.opkId).toBeGreaterThan(100); // one of the refill (ids 101-200), not one the relay lost
    expect(bodies((await dave.run(['pull', '--json'])).stdout)).toEqual(['after the refill']);
    await dave.run(['send', 'carol', 'read you']);
    expect(bodies((await carol.run(['pull', '--json'])).stdout)).toEqual(['read you']);
  });

  it('one-time ML-KEM prekeys drained too: sessions start on the last-resort KEM key (not consumed), and the pull refills both pools', async () => {
    const [grace, heidi, ivan] = await Promise.all([newUser('grace', relay.url), newUser('heidi', relay.url), newUser('ivan', relay.url)]);
    const registered = await pool(heidi);
    expect(registered.lastResort).not.toBeNull();
    await drain(heidi, ['prekey_opk', 'prekey_kem']);
    // Two senders start on it before heidi is back: the same last-resort key serves both.
    const a = await firstMessage(grace, heidi, 'on the last resort');
    const b = await firstMessage(ivan, heidi, 'on it too');
    for (const init of [a, b]) {
      expect(init.kemId).toBe(registered.lastResort);
      expect(init.opkId).toBeUndefined();
    }
    expect(await pool(heidi)).toEqual({ ...registered, opk: 0, kem: 0 });
    const p = await heidi.run(['pull', '--json']);
    expect(bodies(p.stdout)).toEqual(['on the last resort', 'on it too']);
    // Both pools below their floors (20, 10): topped up to 100 and 50; the last-resort key
    // stays (never consumed), locally and on the relay.
    expect(await pool(heidi)).toEqual({ ...registered, opk: 100, kem: 50 });
    expect(await local(heidi)).toEqual({ opk: 200, kem: 100, lastResort: 1 });
    await heidi.run(['send', 'grace', 'answered']);
    expect(bodies((await grace.run(['pull', '--json'])).stdout)).toEqual(['answered']);
    await grace.run(['send', 'heidi', 'and back']);
    expect(bodies((await heidi.run(['pull', '--json'])).stdout)).toEqual(['and back']);
  });
});
