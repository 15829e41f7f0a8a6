/**
 * Every relay limit (docs/PROTOCOL.md §7.7), each set small by its flag on a real relay
 * process, each refusal with its documented code, and the relay still serving afterwards.
 */
import { connect as tcpConnect } from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type RelayClient } from '../../src/client/relay-client.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { cleanupTmp, makeUser, raw, rawAuth, registerUsers, type RelayProc, seal, startRelayProcess, stillServes, type User } from './helpers.js';

// Each test spawns real relay processes; give slow CI machines room (vitest's default is 5 s).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const relays: RelayProc[] = [];
async function relayWith(...args: string[]): Promise<RelayProc> {
  const r = await startRelayProcess({ args });
  relays.push(r);
  return r;
}
afterAll(async () => {
  for (const r of relays) expect(await r.stop()).toBe(0);
  cleanupTmp();
});

async function sendMany(c: RelayClient, from: User, to: User, n: number): Promise<{ ok: number; codes: string[]; messages: string[] }> {
  const envs = Array.from({ length: n }, (_, i) => seal(from, to, `m${i}`));
  const results = await Promise.allSettled(envs.map((e) => c.send(to.id.signPk, e)));
  const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { code: string; message: string });
  return { ok: results.length - bad.length, codes: bad.map((b) => b.code), messages: bad.map((b) => b.message) };
}

describe('configuration', () => {
  it('reads every limit from its environment variable; the flag wins over the environment', async () => {
    const relay = await startRelayProcess({
      env: {
        HUSH_RELAY_MAX_FRAME: '64k',
        HUSH_RELAY_MAILBOX_COUNT: '7',
        HUSH_RELAY_TTL: '2h',
        HUSH_RELAY_AUTH_TIMEOUT: '3s',
        HUSH_RELAY_RATE_CONN: '11',
        HUSH_RELAY_STRANGER_SHARE: '40%',
      },
      args: ['--rate-conn', '12'],
    });
    relays.push(relay);
    const r = await raw(relay.url);
    expect(r.hello.limits).toMatchObject({ maxFrameBytes: 65536, mailboxMaxCount: 7, ttlMs: 7_200_000, authTimeoutMs: 3000, sendRatePerConn: 12, strangerShareCount: 2 });
    r.ws.close();
  });
});

describe('send rate limits', () => {
  it('limits envelopes per second per connection (--rate-conn) with RATE_LIMITED', async () => {
    const relay = await relayWith('--rate-conn', '5', '--rate-identity', '1000');
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const c1 = await alice.connect(relay.url);
    const r = await sendMany(c1, alice, bob, 30);
    expect(r.ok).toBeGreaterThanOrEqual(1);
    expect(r.ok).toBeLessThan(30);
    expect(new Set(r.codes)).toEqual(new Set(['RATE_LIMITED']));
    // Another connection of the same identity has its own bucket.
    const c2 = await alice.connect(relay.url);
    expect((await c2.send(bob.id.signPk, seal(alice, bob, 'other conn'))).stored).toBe(true);
    await c1.close();
    await c2.close();
    await stillServes(relay.url);
  });

  it('limits envelopes per second per identity across its connections (--rate-identity)', async () => {
    const relay = await relayWith('--rate-conn', '1000', '--rate-identity', '5');
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const conns = await Promise.all([alice.connect(relay.url), alice.connect(relay.url), alice.connect(relay.url)]);
    const rs = await Promise.all(conns.map((c) => sendMany(c, alice, bob, 10)));
    const ok = rs.reduce((n, r) => n + r.ok, 0);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThan(30);
    const messages = rs.flatMap((r) => r.messages);
    expect(new Set(rs.flatMap((r) => r.codes))).toEqual(new Set(['RATE_LIMITED']));
    expect(messages.every((m) => /identity/.test(m))).toBe(true);
    // Another identity is not affected.
    const carol = makeUser();
    const cc = await carol.connect(relay.url);
    expect((await cc.send(bob.id.signPk, seal(carol, bob, 'hi'))).stored).toBe(true);
    for (const c of [...conns, cc]) await c.close();
  });

  it('limits frames per second per connection (--frame-rate) and keeps serving', async () => {
    const relay = await relayWith('--frame-rate', '20');
    const r = await raw(relay.url);
    for (let i = 0; i < 100; i++) r.send({ v: 1, t: 'ping', id: `p${i}` });
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await r.next());
    const limited = answers.filter((a) => a.code === 'RATE_LIMITED');
    expect(answers.filter((a) => a.t === 'pong').length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeGreaterThanOrEqual(50);
    expect(limited.every((a) => typeof a.id === 'string')).toBe(true);
    r.ws.close();
    await stillServes(relay.url);
  });
});

describe('mailbox quotas', () => {
  it('refuses past --mailbox-count with MAILBOX_FULL, stays idempotent when full, frees on ack', async () => {
    const relay = await relayWith('--mailbox-count', '3', '--stranger-share', '100'); // identified sends may fill it all
    const alice = makeUser();
    const bob = makeUser();
    const carol = makeUser();
    await registerUsers(relay.url, bob, carol);
    const ca = await alice.connect(relay.url);
    const envs = [1, 2, 3, 4].map((i) => seal(alice, bob, `n${i}`));
    for (const e of envs.slice(0, 3)) await ca.send(bob.id.signPk, e);
    await expect(ca.send(bob.id.signPk, envs[3]!)).rejects.toMatchObject({ code: 'MAILBOX_FULL', kind: 'relay' });
    expect((await ca.send(bob.id.signPk, envs[0]!)).eid).toBe(envelopeId(envs[0]!)); // resend of stored mail
    // Other mailboxes are not affected.
    await ca.send(carol.id.signPk, seal(alice, carol, 'to carol'));
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(3);
    expect(await cb.ack([envelopeId(envs[0]!)])).toBe(1);
    await ca.send(bob.id.signPk, envs[3]!);
    expect((await cb.pull()).items.map((i) => i.eid)).toEqual([envs[1], envs[2], envs[3]].map((e) => envelopeId(e!)));
    await ca.close();
    await cb.close();
  });

  it('refuses past --mailbox-bytes with MAILBOX_FULL', async () => {
    const relay = await relayWith('--mailbox-bytes', '2k', '--stranger-share', '100'); // identified sends may fill it all
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const big = () => seal(alice, bob, 'x'.repeat(1000));
    expect(big().length).toBeGreaterThan(1024);
    await ca.send(bob.id.signPk, big());
    await expect(ca.send(bob.id.signPk, big())).rejects.toMatchObject({ code: 'MAILBOX_FULL' });
    await ca.send(bob.id.signPk, seal(alice, bob, 'small')); // a small one still fits
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(2);
    await ca.close();
    await cb.close();
  });

  it('purges mail older than --ttl and never serves it', async () => {
    const relay = await relayWith('--ttl', '300ms', '--purge-interval', '50ms');
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    await ca.send(bob.id.signPk, seal(alice, bob, 'soon gone'));
    await relay.waitForLog(/ purge removed=1/);
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(0);
    await ca.close();
    await cb.close();
  });
});

describe('connection limits', () => {
  it('refuses connections past --max-conns with TOO_MANY_CONNECTIONS (close 1013)', async () => {
    const relay = await relayWith('--max-conns', '2');
    const u = makeUser();
    const c1 = await u.connect(relay.url);
    const c2 = await u.connect(relay.url);
    await expect(u.connect(relay.url)).rejects.toMatchObject({ code: 'TOO_MANY_CONNECTIONS', kind: 'relay' });
    const r = await raw(relay.url);
    expect(r.hello).toMatchObject({ t: 'error', code: 'TOO_MANY_CONNECTIONS' });
    expect((await r.closed).code).toBe(1013);
    await c1.close();
    await relay.waitForLog(/ disconnect .*open=1/);
    await stillServes(relay.url);
    await c2.close();
  });

  it('drops a connection that never authenticates after --auth-timeout (AUTH_TIMEOUT, close 1008)', async () => {
    const relay = await relayWith('--auth-timeout', '200ms');
    const r = await raw(relay.url);
    expect(await r.next()).toMatchObject({ t: 'error', code: 'AUTH_TIMEOUT' });
    expect(await r.closed).toEqual({ code: 1008, reason: 'AUTH_TIMEOUT' });
    // An authenticated connection is not affected by the timer.
    const a = await raw(relay.url);
    await rawAuth(a, makeUser());
    const pong = await a.req({ v: 1, t: 'ping', id: 'p' });
    expect(pong).toMatchObject({ t: 'pong' });
    await relay.waitForLog(/ refused conn=\d+ code=AUTH_TIMEOUT/);
    await stillServes(relay.url);
    a.ws.close();
  });

  it('closes frames larger than --max-frame (close 1009) and keeps serving', async () => {
    const relay = await relayWith('--max-frame', '4k');
    const r = await raw(relay.url);
    expect(r.hello.limits).toMatchObject({ maxFrameBytes: 4096 });
    r.send(JSON.stringify({ v: 1, t: 'ping', id: 'p', pad: 'x'.repeat(5000) }));
    expect((await r.closed).code).toBe(1009);
    await stillServes(relay.url);
  });

  it('drops a socket that stops answering heartbeat pings (--heartbeat)', async () => {
    const relay = await relayWith('--heartbeat', '100ms', '--auth-timeout', '1h');
    const live = await makeUser().connect(relay.url); // ws answers pings by itself
    // A raw TCP WebSocket that completes the handshake and then never answers anything.
    const url = new URL(relay.url);
    const sock = tcpConnect(Number(url.port), url.hostname);
    sock.on('error', () => undefined);
    sock.resume(); // read (and ignore) everything, so the relay's close is seen
    const gone = new Promise<void>((res) => sock.once('close', () => res()));
    sock.write(
      'GET / HTTP/1.1\r\nHost: ' +
        url.host +
        '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await gone;
    expect(relay.log()).toMatch(/ dead conn=\d+/);
    expect(typeof (await live.ping())).toBe('number');
    await live.close();
  });
});
