/**
 * One deployment of several relays sharing one Redis (issue #16, docs/PROTOCOL.md §7.8.1), used
 * through the real CLI: two homes registered through two different relays start a v2 session
 * (the prekeys published through one relay are handed out by the other). One redis-server and
 * two relay processes for the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithout } from '../needs.js';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from '../integration/redis-helpers.js';
import { historyOf, jsonOf, newUser, type TestUser } from './messaging-helpers.js';

describe.skipIf(skipWithout('redis-server', whyNoRedis()))('a deployment of two relays on one Redis, through the CLI', () => {
  let redis: RedisProc;
  let a: RelayProc;
  let b: RelayProc;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startRelayProcess({ store: redis.url }), startRelayProcess({ store: redis.url })]);
    [alice, bob] = await Promise.all([newUser('alice', a.url), newUser('bob', b.url)]);
  }, 120_000);

  afterAll(async () => {
    const codes = await Promise.all([a, b].map((r) => r?.stop()));
    await redis?.stop();
    cleanupTmp();
    expect(codes).toEqual([0, 0]);
  });

  it('homes on two relays sharing Redis talk in a v2 session both ways (prekeys published through one relay, fetched through the other)', async () => {
    const s1 = await alice.run(['send', 'bob', '--json', 'hello from relay A']);
    expect(s1.exitCode).toBe(0);
    expect(jsonOf(s1.stdout)).toMatchObject([{ event: 'sent', to: 'bob', protocol: 2 }]);
    expect(s1.stderr).not.toMatch(/protocol v1/);
    const p1 = await bob.run(['pull', '--json']);
    expect(jsonOf(p1.stdout).filter((e) => e.event === 'message')).toMatchObject([{ from: 'alice', body: 'hello from relay A' }]);
    const s2 = await bob.run(['send', 'alice', '--json', 'hello back from relay B']);
    expect(jsonOf(s2.stdout)).toMatchObject([{ event: 'sent', to: 'alice', protocol: 2 }]);
    expect((await alice.run(['pull'])).stdout).toContain('hello back from relay B');
    expect(await historyOf(alice.home)).toMatchObject([
      { direction: 'out', body: 'hello from relay A' },
      { direction: 'in', body: 'hello back from relay B' },
    ]);
    for (const r of [a, b]) expect(r.log()).not.toMatch(/internal-error|store-error/);
  });
});
