/**
 * What a Redis-backed relay deployment survives (issue #16; docs/PROTOCOL.md §7.8): kill -9 of
 * the relay a sender streams 5,000 envelopes through (the sender reconnects to another relay
 * and resends what it has no `accepted` for: every envelope stored exactly once), then kill -9
 * of Redis itself (appendfsync always: nothing accepted is lost; the relays reconnect, and a
 * push still crosses relays once they have).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PushItem, RelayClient } from '../../src/client/relay-client.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { skipWithout } from '../needs.js';
import { cleanupTmp, makeUser, registerUsers, type RelayProc, startRelayProcess, type User } from './helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from './redis-helpers.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 30_000 });

const N = 5000;
const KILL_AFTER = 1500;
const WINDOW = 200;
// Limits raised so that only the kill decides what is accepted.
const ARGS = ['--rate-conn', '100000', '--rate-identity', '100000', '--frame-rate', '100000', '--mailbox-count', '100000', '--stranger-count', '100000', '--stranger-bytes', '1g'];

/** Everything waiting for `c`'s identity, page by page. */
async function pullAll(c: RelayClient): Promise<string[]> {
  const eids: string[] = [];
  let after = 0;
  for (;;) {
    const { items, more } = await c.pull({ after, limit: 500 });
    eids.push(...items.map((i) => i.eid));
    if (items.length > 0) after = items[items.length - 1]!.seq;
    if (!more) return eids;
  }
}

/** Retries `f` until it resolves (a relay reconnecting to a restarted Redis answers INTERNAL meanwhile), up to a deadline. */
async function eventually<T>(f: () => Promise<T>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe.skipIf(skipWithout('redis-server', whyNoRedis()))('a Redis-backed deployment under kill -9', () => {
  let redis: RedisProc;
  let a: RelayProc;
  let b: RelayProc;
  let alice: User;
  let bob: User;
  const envs = Array.from({ length: N }, () => randomBytes(420)); // the relay is blind: any bytes of an envelope's size will do
  const eids = envs.map((e) => envelopeId(e));

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startRelayProcess({ store: redis.url, args: ARGS }), startRelayProcess({ store: redis.url, args: ARGS })]);
    alice = makeUser();
    bob = makeUser();
    await registerUsers(a.url, alice, bob);
  });
  afterAll(async () => {
    await a?.stop('SIGKILL');
    const code = await b?.stop();
    await redis?.stop();
    cleanupTmp();
    expect(code).toBe(0);
  });

  it(`kill -9 of the relay in the middle of ${N} sends: resent through another relay, each envelope is stored exactly once`, async () => {
    const ca = await alice.connect(a.url);
    const accepted = new Set<number>();
    let killed: Promise<number | null> | undefined;
    // A window of sends in flight, as a client keeps: the kill lands with sends in flight and
    // most still to go (all 5,000 at once could all be answered before the signal arrives).
    let next = 0;
    const pump = async (): Promise<void> => {
      while (next < N) {
        const i = next++;
        try {
          await ca.send(bob.id.signPk, envs[i]!);
          accepted.add(i);
          if (accepted.size === KILL_AFTER) killed = a.stop('SIGKILL');
        } catch {
          // the relay is gone: this one has no `accepted`, it is resent below
        }
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, pump));
    expect(await killed).toBe(null); // killed by the signal, not exited
    expect(accepted.size).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(accepted.size).toBeLessThan(N);
    // The sender reconnects to the other relay and resends everything it has no `accepted` for,
    // plus some that it has (a resend is answered `accepted` and stored once).
    const cb = await alice.connect(b.url);
    const resend = envs.map((_, i) => i).filter((i) => !accepted.has(i) || i % 10 === 0);
    for (let k = 0; k < resend.length; k += 500) await Promise.all(resend.slice(k, k + 500).map((i) => cb.send(bob.id.signPk, envs[i]!)));
    await cb.close();
    const bobC = await bob.connect(b.url);
    const got = await pullAll(bobC);
    expect(got).toHaveLength(N);
    expect(new Set(got)).toEqual(new Set(eids));
    await bobC.close();
  });

  it('kill -9 of Redis (appendfsync always): nothing accepted is lost; the relay reconnects by itself and pushes across relays again', async () => {
    await redis.restart();
    const c = await startRelayProcess({ store: redis.url, args: ARGS });
    try {
      const bobB = await eventually(() => bob.connect(b.url));
      const got = await eventually(() => pullAll(bobB));
      expect(new Set(got)).toEqual(new Set(eids));
      // bob listens on B, alice sends through C: B's wake-up subscription came back with Redis.
      const env = randomBytes(420);
      const pushed = new Promise<PushItem>((resolve) => bobB.on('push', (p) => p.eid === envelopeId(env) && resolve(p)));
      const ac = await alice.connect(c.url);
      await ac.send(bob.id.signPk, env);
      expect((await pushed).eid).toBe(envelopeId(env));
      let acked = 0;
      for (let k = 0; k < got.length; k += 500) acked += await bobB.ack(got.slice(k, k + 500));
      expect(acked).toBe(N);
      await Promise.all([ac.close(), bobB.close()]);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});
