/**
 * Nothing typed is lost, nothing is shown twice: the outbox across a relay restart, a pull
 * killed between storing and acking (HUSH_TEST_CRASH=after-store), and `listen` running while
 * another process uses the same home, surviving a relay restart.
 *
 * The relay is restarted on the same data directory and the same port (the last --port wins
 * in the relay's argument parser), so the URL remembered in config.json stays right.
 * Synchronisation is on output lines (stderr state lines, --json stdout lines), never sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { RelayClient } from '../../src/client/relay-client.js';
import { signDetached } from '../../src/crypto/nacl.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { PASS, historyOf, jsonOf, newUser, outboxSize, spawnHush, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  // pin both ways
  expect((await alice.run(['send', 'bob', 'hi bob'])).exitCode).toBe(0);
  expect((await bob.run(['send', 'alice', 'hi alice'])).exitCode).toBe(0);
  expect((await alice.run(['pull'])).exitCode).toBe(0);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** How many envelopes wait in the user's mailbox (looked at as that user, without acking). */
async function waitingFor(u: TestUser): Promise<number> {
  const { identity } = await unlock(hushPaths(u.home), { env: { HUSH_PASSPHRASE: PASS } });
  const c = await RelayClient.connect(relay.url, { signPk: identity.signPk, sign: (m) => signDetached(m, identity.signSk) });
  try {
    return (await c.pull()).items.length;
  } finally {
    await c.close();
  }
}

async function restartRelay(): Promise<void> {
  const port = new URL(relay.url).port;
  relay = await startRelayProcess({ dataDir: relay.dataDir, args: ['--port', port] });
}

describe('durability', () => {
  it('a send while the relay is down exits 4 and keeps the message; after a restart the next send flushes it first', async () => {
    expect(await relay.stop()).toBe(0);
    const down = await alice.run(['send', 'bob', 'written while the relay was down']);
    expect(down.exitCode).toBe(4);
    expect(down.stderr).toMatch(/^hush: error: relay ws:\/\/\S+ is unreachable; 1 message kept in the outbox\n/);
    expect(await outboxSize(alice.home)).toBe(1);

    await restartRelay();
    const next = await alice.run(['send', 'bob', '--json', 'and this one after']);
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toBe('sent 1 message to bob\nsent 1 queued message from the outbox\n');
    expect(jsonOf(next.stdout).map((e) => e.event)).toEqual(['sent', 'sent']);
    expect(await outboxSize(alice.home)).toBe(0);

    const p = await bob.run(['pull', '--json']);
    expect(jsonOf(p.stdout).map((m) => m.body)).toEqual(['written while the relay was down', 'and this one after']);
  });

  it('a pull killed after storing and before acking loses nothing and shows nothing twice', async () => {
    expect((await alice.run(['send', 'bob', '--lines'], { input: 'crash one\ncrash two\n' })).exitCode).toBe(0);
    const before = (await historyOf(bob.home)).length;

    const crashed = await bob.run(['pull', '--json'], { env: { HUSH_TEST_CRASH: 'after-store' } });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL'); // killed by the hook, after printing
    expect(jsonOf(crashed.stdout).map((m) => m.body)).toEqual(['crash one', 'crash two']);

    // the relay still holds them (never acked) ...
    expect(await waitingFor(bob)).toBe(2);
    // ... so they come again, are recognised as already stored, acked, and not shown
    const p1 = await bob.run(['pull', '--json']);
    expect(p1).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect(await waitingFor(bob)).toBe(0);
    const p2 = await bob.run(['pull', '--json']);
    expect(p2).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const hist = await historyOf(bob.home);
    expect(hist.slice(before)).toEqual([
      { direction: 'in', status: 'received', body: 'crash one' },
      { direction: 'in', status: 'received', body: 'crash two' },
    ]);
  });

  it('listen runs while send uses the same home, survives a relay restart, and exits 0 on SIGINT', async () => {
    const listen = spawnHush(bob.home, ['listen', '--json']);
    await listen.stderr.waitFor(/^hush: listening on ws:\/\/\S+ as bob$/);

    expect((await alice.run(['send', 'bob', 'live one'])).exitCode).toBe(0);
    expect(await listen.stdout.json(0)).toMatchObject({ event: 'message', from: 'alice', to: 'bob', body: 'live one' });

    // a second process on bob's home while listen holds it open
    const side = await bob.run(['send', 'alice', 'sent while listening']);
    expect(side.exitCode).toBe(0);
    expect(jsonOf((await alice.run(['pull', '--json'])).stdout).map((m) => m.body)).toEqual(['sent while listening']);

    await relay.stop();
    await listen.stderr.waitFor(/^hush: lost the relay at ws:\/\/\S+ \(.*\); reconnecting$/);
    await restartRelay();
    await listen.stderr.waitFor(/^hush: reconnected to ws:\/\/\S+$/);

    expect((await alice.run(['send', 'bob', 'live two'])).exitCode).toBe(0);
    expect(await listen.stdout.json(1)).toMatchObject({ event: 'message', from: 'alice', body: 'live two' });

    listen.kill('SIGINT');
    expect((await listen.done).exitCode).toBe(0);
    expect(listen.stderr.lines.filter((l) => l.startsWith('hush: error'))).toEqual([]);
    // one line per state change, not per attempt
    expect(listen.stderr.lines.filter((l) => l.startsWith('hush: lost'))).toHaveLength(1);
    expect(jsonOf(listen.stdout.text()).map((m) => m.body)).toEqual(['live one', 'live two']);
    expect((await bob.run(['pull', '--json'])).stdout).toBe('');
  });
});
