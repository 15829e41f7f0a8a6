/**
 * The relay's quotas that need no token (issue #13; docs/PROTOCOL.md §7.6, §7.7) on a real relay
 * process, each set small by its flag or environment variable: mail only to registered keys
 * (UNKNOWN_RECIPIENT), registration limits (REGISTER_LIMITED), the store budget and the
 * free-space floor (STORE_FULL), the ephemeral rate per pair (RATE_LIMITED). The in-process
 * cases (windows, IPv6 /64, a disk that fills during a commit) are in test/unit/relay-handlers.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { makeBundle } from '../../src/crypto/bundle.js';
import { anonymous, cleanupTmp, giveToken, makeUser, registerUsers, type RelayProc, seal, startRelayProcess, stillServes, tmpDir } from './helpers.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const relays: RelayProc[] = [];
async function relayWith(args: string[], env: Record<string, string> = {}, dataDir?: string): Promise<RelayProc> {
  const r = await startRelayProcess({ args, env, ...(dataDir === undefined ? {} : { dataDir }) });
  relays.push(r);
  return r;
}

afterAll(async () => {
  for (const r of relays) expect(await r.stop()).toBe(0);
  cleanupTmp();
});

describe('mail only to registered keys', () => {
  it('refuses mail to an unregistered key (UNKNOWN_RECIPIENT) and identified typing (TOKEN_REQUIRED), stores nothing, and remembers registrations across a restart', async () => {
    const data = tmpDir();
    const relay = await relayWith([], {}, data);
    const alice = makeUser();
    const bob = makeUser();
    const ca = await alice.connect(relay.url);
    await expect(ca.send(bob.id.signPk, seal(alice, bob, 'to nobody'))).rejects.toMatchObject({
      code: 'UNKNOWN_RECIPIENT',
      kind: 'relay',
      message: 'relay refused: the recipient is not registered on this relay',
    });
    await expect(ca.send(bob.id.signPk, seal(alice, bob, '', 'typing'), { ephemeral: true })).rejects.toMatchObject({ code: 'TOKEN_REQUIRED' });
    await registerUsers(relay.url, bob);
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(0); // the refused mail was not kept
    await cb.close();
    expect((await ca.send(bob.id.signPk, seal(alice, bob, 'now you exist'))).stored).toBe(true);
    await ca.close();
    expect(await relay.stop()).toBe(0);

    const again = await relayWith([], {}, data);
    const ca2 = await alice.connect(again.url);
    expect((await ca2.send(bob.id.signPk, seal(alice, bob, 'after a restart'))).stored).toBe(true);
    await ca2.close();
  });
});

describe('registration limits', () => {
  it('--register-conn and HUSH_RELAY_NAMES_PER_ADDR bound registrations with REGISTER_LIMITED; nothing is registered past them', async () => {
    const relay = await relayWith(['--register-conn', '2'], { HUSH_RELAY_NAMES_PER_ADDR: '3' });
    const u = makeUser('quota-one');
    const c = await u.connect(relay.url);
    await c.register(u.bundle);
    await c.register(makeBundle(u.id, 'quota-one', Date.now() + 1)); // the same name again: no new name
    await expect(c.register(u.bundle)).rejects.toMatchObject({ code: 'REGISTER_LIMITED', message: 'relay refused: more than 2 register frames on this connection' });
    await c.close();
    await registerUsers(relay.url, makeUser('quota-two'), makeUser('quota-three'));
    const late = makeUser('quota-four');
    const cl = await late.connect(relay.url);
    const e = await cl.register(late.bundle).then(
      () => undefined,
      (err: unknown) => err as { code: string; hint?: string },
    );
    expect(e).toMatchObject({ code: 'REGISTER_LIMITED' });
    expect(e?.hint).toMatch(/retry later/);
    await expect(cl.lookup({ name: 'quota-four' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await cl.lookup({ name: 'quota-three' })).name).toBe('quota-three');
    await cl.close();
  });

  it('--renames-per-day bounds name changes of one identity', async () => {
    const relay = await relayWith(['--renames-per-day', '1']);
    const u = makeUser('first');
    const c = await u.connect(relay.url);
    await c.register(u.bundle);
    await c.register(makeBundle(u.id, 'second', Date.now() + 1));
    await expect(c.register(makeBundle(u.id, 'third', Date.now() + 2))).rejects.toMatchObject({
      code: 'REGISTER_LIMITED',
      message: 'relay refused: this identity already changed its name 1 time in 24 hours',
    });
    expect((await c.lookup({ signPk: u.id.signPk })).name).toBe('second');
    await c.close();
  });
});

describe('the store budget and the free-space floor', () => {
  it('--max-store-bytes: refuses with STORE_FULL across all mailboxes, stores nothing, and has room again after an ack', async () => {
    const relay = await relayWith(['--max-store-bytes', '2k']);
    const alice = makeUser();
    const bob = makeUser();
    const carol = makeUser();
    await registerUsers(relay.url, bob, carol);
    const ca = await alice.connect(relay.url);
    const big = seal(alice, bob, 'x'.repeat(1200));
    const first = await ca.send(bob.id.signPk, big);
    await expect(ca.send(carol.id.signPk, seal(alice, carol, 'y'.repeat(1200)))).rejects.toMatchObject({ code: 'STORE_FULL', hint: expect.stringMatching(/retry later/) });
    const cc = await carol.connect(relay.url);
    expect((await cc.pull()).items).toHaveLength(0);
    const cb = await bob.connect(relay.url);
    expect(await cb.ack([first.eid])).toBe(1);
    expect((await ca.send(carol.id.signPk, seal(alice, carol, 'y'.repeat(1200)))).stored).toBe(true);
    for (const c of [ca, cb, cc]) await c.close();
  });

  it('--min-free: a file system with less free space than the floor refuses sends and new names (STORE_FULL); the relay keeps serving', async () => {
    const data = tmpDir();
    const alice = makeUser();
    const bob = makeUser();
    const first = await relayWith([], {}, data);
    await registerUsers(first.url, bob);
    expect(await first.stop()).toBe(0);
    const relay = await relayWith(['--min-free', '1000t'], {}, data); // more than any test machine has free
    const ca = await alice.connect(relay.url);
    await expect(ca.send(bob.id.signPk, seal(alice, bob, 'x'))).rejects.toMatchObject({ code: 'STORE_FULL', message: "relay refused: the relay's storage is full; retry later" });
    await ca.close();
    const carol = makeUser();
    const cc = await carol.connect(relay.url);
    await expect(cc.register(carol.bundle)).rejects.toMatchObject({ code: 'STORE_FULL' });
    await cc.close();
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(0);
    await cb.close();
    await stillServes(relay.url);
  });

  it('a limit value that is not a size is a usage error (exit 2) naming the flag', () => {
    const bin = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin/hush-relay.js');
    const r = spawnSync(process.execPath, [bin, '--port', '0', '--data', tmpDir(), '--max-store-bytes', 'lots'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hush-relay: error: --max-store-bytes "lots" is not a valid bytes\nhush-relay: hint: /);
    const over = spawnSync(process.execPath, [bin, '--port', '0', '--data', tmpDir(), '--stranger-share', '101'], { encoding: 'utf8' });
    expect(over.status).toBe(2);
    expect(over.stderr).toMatch(/^hush-relay: error: --stranger-share must be at most 100\nhush-relay: hint: /);
  });
});

describe('ephemeral rate per pair', () => {
  it('--ephemeral-rate: typing past the rate to one recipient is RATE_LIMITED, another recipient and stored mail are not affected', async () => {
    const relay = await relayWith(['--ephemeral-rate', '1']);
    const alice = makeUser();
    const bob = makeUser();
    const carol = makeUser();
    await registerUsers(relay.url, bob, carol);
    const [tb, tc] = await Promise.all([giveToken(relay.url, bob), giveToken(relay.url, carol)]);
    const ca = await anonymous(relay.url);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => ca.send(bob.id.signPk, seal(alice, bob, '', 'typing'), { ephemeral: true, token: tb })));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'accepted' : (r.reason as { code: string }).code));
    expect(codes.filter((c) => c === 'accepted').length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(5);
    expect(new Set(codes)).toEqual(new Set(['accepted', 'RATE_LIMITED']));
    expect((await ca.send(carol.id.signPk, seal(alice, carol, '', 'typing'), { ephemeral: true, token: tc })).stored).toBe(false);
    expect((await ca.send(bob.id.signPk, seal(alice, bob, 'a real letter'), { token: tb })).stored).toBe(true);
    await ca.close();
  });
});
