/**
 * A conversation keeps its order, and every reader of a home sees every message, through the
 * real binary and real relay processes:
 * - 3,000 `send --lines` against a relay at its DEFAULT limits, between contacts (alice holds
 *   bob's delivery token: a stranger would stop at the relay's stranger quota of 1000 waiting):
 *   bob's pull prints them, and his history lists them, in the order alice typed them;
 * - a relay killed -9 and restarted mid-stream, then the sender killed -9 mid-stream: whatever
 *   alice's home stored reaches bob exactly once and in order (the outbox goes first);
 * - two `hush listen` on bob's home at once: each prints every message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { historyOf, jsonOf, newUser, spawnHush, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

beforeAll(async () => {
  relay = await startRelayProcess(); // default limits: 200 envelopes/s per connection
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  // A conversation, as between contacts: both have written, so alice holds bob's delivery token
  // and her sends are not under the relay's stranger quota (1000 waiting per sender).
  for (const [from, to] of [
    [alice, 'bob'],
    [bob, 'alice'],
  ] as const) {
    expect((await from.run(['send', to, 'hello'])).exitCode).toBe(0);
    expect((await (from === alice ? bob : alice).run(['pull'])).exitCode).toBe(0);
  }
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** bob's pulled message bodies, and his history's incoming bodies, oldest first. */
async function bobReads(): Promise<{ pulled: string[]; history: string[] }> {
  const p = await bob.run(['pull', '--json']);
  expect(p.exitCode, p.stderr).toBe(0);
  const pulled = jsonOf(p.stdout)
    .filter((e) => e.event === 'message')
    .map((e) => e.body as string);
  const history = (await historyOf(bob.home)).filter((m) => m.direction === 'in' && m.body !== 'hello').map((m) => m.body);
  return { pulled, history };
}

describe('order', () => {
  it('3,000 --lines at the default rate limits arrive, print and list in the order sent', { timeout: 180_000 }, async () => {
    const lines = numbers(1, 3000);
    const s = await alice.run(['send', 'bob', '--lines'], { input: lines.join('\n') + '\n' });
    expect(s.exitCode, s.stderr).toBe(0);
    const { pulled, history } = await bobReads();
    expect(pulled).toEqual(lines);
    expect(history).toEqual(lines);
    const h = jsonOf((await bob.run(['history', 'alice', '--json', '--limit', '3000'])).stdout).map((m) => m.body);
    expect(h).toEqual(lines);
    // sent sealed: alice's sends used bob's delivery token
    expect(jsonOf((await alice.run(['send', 'bob', '--json', 'one more'])).stdout)).toMatchObject([{ event: 'sent', sealed: true }]);
    await bob.run(['pull']);
  });

  it('across a relay kill -9 and restart, and a sender kill -9, what was stored arrives once, in order', { timeout: 180_000 }, async () => {
    const port = new URL(relay.url).port;
    // 1. a stream; the relay dies under it after 150 accepted sends and comes back
    const a = spawnHush(alice.home, ['send', 'bob', '--lines', '--json']);
    for (const n of numbers(10001, 10400)) a.write(`${n}\n`);
    let seen = 0;
    await a.stdout.waitFor(() => ++seen >= 150);
    await relay.stop('SIGKILL');
    relay = await startRelayProcess({ dataDir: relay.dataDir, args: ['--port', port] });
    for (const n of numbers(10401, 10600)) a.write(`${n}\n`);
    a.end();
    const ra = await a.done;
    expect(ra.exitCode).toBe(4); // the rest waits in the outbox

    // 2. the next sender flushes the outbox first; it is killed -9 mid-stream
    const b = spawnHush(alice.home, ['send', 'bob', '--lines', '--json']);
    for (const n of numbers(10601, 11000)) b.write(`${n}\n`);
    let sent = 0;
    await b.stdout.waitFor(() => ++sent >= 500);
    b.kill('SIGKILL');
    expect((await b.done).signal).toBe('SIGKILL');

    // 3. one more message: the outbox goes out first
    const c = await alice.run(['send', 'bob', '11001']);
    expect(c.exitCode, c.stderr).toBe(0);

    const stored = (await historyOf(alice.home)).filter((m) => m.direction === 'out' && Number(m.body) > 10000).map((m) => m.body);
    expect(stored.length).toBeGreaterThan(600); // all of stream 1, part of stream 2, and 11001
    expect(stored.map(Number)).toEqual([...stored.map(Number)].sort((x, y) => x - y));
    const { pulled, history } = await bobReads();
    expect(pulled).toEqual(stored);
    expect(history.filter((b) => Number(b) > 10000)).toEqual(stored);
  });
});

describe('two readers of one home', () => {
  it("two hush listen on bob's home each print every message", { timeout: 120_000 }, async () => {
    const l1 = spawnHush(bob.home, ['listen', '--json']);
    const l2 = spawnHush(bob.home, ['listen', '--json']);
    try {
      await Promise.all([l1.stderr.waitFor(/listening on/), l2.stderr.waitFor(/listening on/)]);
      const texts = numbers(20001, 20040);
      const s = await alice.run(['send', 'bob', '--lines'], { input: texts.join('\n') + '\n' });
      expect(s.exitCode, s.stderr).toBe(0);
      for (const l of [l1, l2]) {
        await l.stdout.waitFor(/"body":"20040"/);
      }
      const bodies = (l: typeof l1): string[] =>
        l.stdout.lines
          .map((x) => JSON.parse(x) as Record<string, unknown>)
          .filter((e) => e.event === 'message')
          .map((e) => e.body as string);
      expect(bodies(l1)).toEqual(texts);
      expect(bodies(l2)).toEqual(texts);
    } finally {
      l1.kill('SIGTERM');
      l2.kill('SIGTERM');
      expect((await l1.done).exitCode).toBe(0);
      expect((await l2.done).exitCode).toBe(0);
    }
  });
});
