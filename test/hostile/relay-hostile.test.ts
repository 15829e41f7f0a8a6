/**
 * The relay under hostile clients (issue 6, part 1): raw WebSocket clients that send every
 * class of malformed frame at scale, floods past every rate limit, a thousand connections that
 * mostly never authenticate, clients that never read, replayed and cross-relay auth, and
 * attempts on another identity's mailbox and name. After each: the relay process is still up,
 * serves an honest client normally, and its RSS is within RSS_FACTOR of what it was before.
 * The cases whose outcome depends on the store (floods that store mail, clients that never read,
 * auth replay, other mailboxes and names) run on SQLite and on Redis (one redis-server for the
 * file, a database per relay); frame parsing and connection counts do not touch the store.
 *
 * test/integration/relay-bad-input.test.ts and relay-limits.test.ts already check each bad
 * input once for its code; this file checks them at scale and for memory, crashes and leaks.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { makeBundle } from '../../src/crypto/bundle.js';
import { randomBytes, signDetached } from '../../src/crypto/nacl.js';
import { bundleToJson } from '../../src/protocol/bundle.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { authSignedBytes } from '../../src/protocol/frames.js';
import { skipWithout } from '../needs.js';
import { type RedisProc, startRedis, whyNoRedis } from '../integration/redis-helpers.js';
import { malformedCorpus } from './corpus.js';
import { cleanupTmp, figure, makeUser, raw, rawAuth, type Raw, registerUsers, type RelayProc, RSS_FACTOR, rssKb, scale, seal, startRelayProcess, stillServes } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const CONNS = scale('HUSH_HOSTILE_CONNS', 1000);
const FUZZ_CONNS = scale('HUSH_HOSTILE_FUZZ_CONNS', 20);
const FUZZ_ROUNDS = scale('HUSH_HOSTILE_FUZZ_ROUNDS', 2);

const relays: RelayProc[] = [];
async function relayWith(...args: string[]): Promise<RelayProc> {
  const r = await startRelayProcess({ args });
  relays.push(r);
  return r;
}
/** The stores the mailbox and name cases run against: SQLite, and a shared Redis when redis-server is here (in CI it must be). */
const STORES = ['sqlite', ...(skipWithout('redis-server', whyNoRedis()) ? [] : ['redis'])] as const;
let redis: RedisProc | undefined;
let redisDb = 0;
/** A relay on `store`: SQLite in its own directory, or the shared Redis in a database of its own. */
async function relayOn(store: string, ...args: string[]): Promise<RelayProc> {
  if (store === 'sqlite') return relayWith(...args);
  redis ??= await startRedis();
  const r = await startRelayProcess({ store: `redis://127.0.0.1:${redis.port}/${++redisDb}`, args });
  relays.push(r);
  return r;
}
afterAll(async () => {
  try {
    for (const r of relays) {
      // Still up after everything, and shuts down cleanly; no handler ever failed.
      expect(r.proc.exitCode).toBeNull();
      expect(await r.stop()).toBe(0);
      expect(r.log()).not.toMatch(/internal-error|store-error/);
    }
  } finally {
    await redis?.stop();
    cleanupTmp();
  }
});

/** RSS now, after a warm-up round trip (so the first-use growth of V8 and SQLite is counted in). */
async function baseline(relay: RelayProc): Promise<number> {
  await stillServes(relay.url);
  return rssKb(relay.proc.pid!);
}

/** The relay is up, serves an honest client, and its RSS is within the stated factor. */
async function healthy(relay: RelayProc, before: number, label: string): Promise<void> {
  expect(relay.proc.exitCode, `${label}: relay exited`).toBeNull();
  await stillServes(relay.url);
  const after = rssKb(relay.proc.pid!);
  figure(`${label} rss KiB before/after`, `${before}/${after}`);
  expect(after, `${label}: RSS ${before} KiB -> ${after} KiB`).toBeLessThanOrEqual(before * RSS_FACTOR);
}

/** Answers to expect for a corpus entry: an authenticated connection never gets AUTH_REQUIRED. */
function allowed(codes: string[], authed: boolean): string[] {
  return authed ? codes.filter((x) => x !== 'AUTH_REQUIRED') : codes;
}

describe('malformed frames at scale', () => {
  it('answers every malformed frame class with its documented code on many connections at once, and never fails inside', async () => {
    const relay = await relayWith('--frame-rate', '1000000', '--auth-timeout', '1h');
    const before = await baseline(relay);
    const corpus = malformedCorpus(relay.url);
    let tried = 0;
    const worker = async (k: number): Promise<void> => {
      const r = await raw(relay.url);
      const authed = k % 2 === 0;
      if (authed) expect(await rawAuth(r, makeUser())).toMatchObject({ t: 'ok' });
      for (let round = 0; round < FUZZ_ROUNDS; round++) {
        // Pipelined: all of a round on the wire before reading the answers (in order).
        for (const c of corpus) r.send(c.data);
        for (const c of corpus) {
          const f = await r.next();
          const code = String(f.t === 'error' ? f.code : f.t);
          expect(allowed(c.codes, authed), `${c.name} -> ${code}: ${String(f.message)}`).toContain(code);
          tried++;
        }
      }
      expect(await r.req({ v: 1, t: 'ping', id: 'after' })).toMatchObject({ t: 'pong', id: 'after' });
      r.ws.close();
    };
    await Promise.all(Array.from({ length: FUZZ_CONNS }, (_, k) => worker(k)));
    figure('malformed frames answered', tried);
    figure('malformed frame classes', corpus.length);
    await healthy(relay, before, 'malformed');
  });

  it('survives random mutations of valid frames (byte flips, truncation, splicing): an answer for each, never INTERNAL', async () => {
    const relay = await relayWith('--frame-rate', '1000000');
    const before = await baseline(relay);
    const alice = makeUser();
    const bob = makeUser();
    const env = seal(alice, bob, 'mutate me');
    const valid = [
      { v: 1, t: 'ping', id: 'p1' },
      { v: 1, t: 'pull', id: 'p2', after: 0, limit: 10 },
      { v: 1, t: 'ack', id: 'p3', eids: [envelopeId(env)] },
      { v: 1, t: 'lookup', id: 'p4', name: 'somebody' },
      { v: 1, t: 'send', id: 'p5', to: toB64(bob.id.signPk), env: toB64(env), eid: envelopeId(env) },
      { v: 1, t: 'register', id: 'p6', bundle: bundleToJson(alice.bundle) },
    ].map((f) => JSON.stringify(f));
    const N = scale('HUSH_HOSTILE_MUTATIONS', 20_000);
    const r = await raw(relay.url);
    expect(await rawAuth(r, alice)).toMatchObject({ t: 'ok' });
    const rnd = randomBytes(N * 4);
    const chars = '{}[]":,0123456789abcAZ=/+\\ \u00e9';
    const codes = new Map<string, number>();
    const BATCH = 500;
    for (let start = 0; start < N; start += BATCH) {
      const n = Math.min(BATCH, N - start);
      for (let i = start; i < start + n; i++) {
        const base = valid[rnd[i * 4]! % valid.length]!;
        const pos = ((rnd[i * 4 + 1]! << 8) | rnd[i * 4 + 2]!) % base.length;
        const op = rnd[i * 4 + 3]! % 4;
        const ch = chars[rnd[i * 4 + 3]! % chars.length]!;
        const m =
          op === 0
            ? base.slice(0, pos) + ch + base.slice(pos + 1)
            : op === 1
              ? base.slice(0, pos)
              : op === 2
                ? base.slice(0, pos) + base.slice(pos + 1)
                : base.slice(0, pos) + base.slice(0, base.length - pos);
        r.send(m);
      }
      for (let i = 0; i < n; i++) {
        const f = await r.next();
        const k = String(f.t === 'error' ? f.code : f.t);
        codes.set(k, (codes.get(k) ?? 0) + 1);
      }
    }
    expect(codes.get('INTERNAL') ?? 0).toBe(0);
    expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(N);
    figure('mutated frames answered', N);
    figure('mutated frame answers', JSON.stringify(Object.fromEntries(codes)));
    r.ws.close();
    await healthy(relay, before, 'mutations');
  });

  it('closes each of many simultaneous oversize frames with 1009 and keeps serving the rest', async () => {
    const relay = await relayWith('--max-frame', '64k');
    const before = await baseline(relay);
    const N = 50;
    const bystander = await raw(relay.url);
    const conns = await Promise.all(Array.from({ length: N }, () => raw(relay.url)));
    const pad = 'x'.repeat(1024 * 1024); // 1 MiB: 16 times the limit
    for (const c of conns) c.send(JSON.stringify({ v: 1, t: 'ping', id: 'p', pad }));
    const closes = await Promise.all(conns.map((c) => c.closed));
    expect(closes.map((c) => c.code)).toEqual(Array(N).fill(1009));
    expect(await bystander.req({ v: 1, t: 'ping', id: 'b' })).toMatchObject({ t: 'pong' });
    bystander.ws.close();
    await healthy(relay, before, 'oversize');
  });
});

describe.each(STORES)('floods past every rate limit (%s store)', (store) => {
  it('refuses sends past --rate-conn and --rate-identity and frames past --frame-rate, all at once, while an honest client is served', async () => {
    const relay = await relayOn(store, '--rate-conn', '50', '--rate-identity', '80', '--frame-rate', '200', '--mailbox-count', '100000');
    const before = await baseline(relay);
    const mallory = makeUser();
    const victim = makeUser();
    const honest = makeUser();
    await registerUsers(relay.url, victim);
    // One identity, four connections, each sending 300 envelopes pipelined: past both send limits.
    const senders = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const r = await raw(relay.url);
        expect(await rawAuth(r, mallory)).toMatchObject({ t: 'ok' });
        return r;
      }),
    );
    // Two more connections flood pings and garbage: past the frame limit.
    const pingers = await Promise.all([0, 1].map(() => raw(relay.url)));
    const envs = Array.from({ length: 300 }, () => seal(mallory, victim, 'flood'));
    const count = new Map<string, number>();
    const acceptedEids = new Set<string>();
    const tally = (k: string): void => void count.set(k, (count.get(k) ?? 0) + 1);
    const flood = senders.map(async (r) => {
      for (const e of envs) r.send({ v: 1, t: 'send', id: 's', to: toB64(victim.id.signPk), env: toB64(e), eid: envelopeId(e) });
      for (let i = 0; i < envs.length; i++) {
        const f = await r.next();
        if (f.t === 'accepted') acceptedEids.add(String(f.eid));
        tally(f.t === 'error' ? `send ${String(f.code)}: ${String(f.message).replace(/\d+/g, 'N')}` : `send ${String(f.t)}`);
      }
    });
    const pings = pingers.map(async (r) => {
      for (let i = 0; i < 2000; i++) r.send(i % 2 ? { v: 1, t: 'ping', id: `p${i}` } : 'garbage');
      for (let i = 0; i < 2000; i++) {
        const f = await r.next();
        tally(f.t === 'error' ? `frame ${String(f.code)}` : `frame ${String(f.t)}`);
      }
    });
    // Meanwhile an honest identity sends and is answered `accepted` every time.
    const hc = await honest.connect(relay.url);
    for (let i = 0; i < 20; i++) expect((await hc.send(victim.id.signPk, seal(honest, victim, `honest ${i}`))).stored).toBe(true);
    await Promise.all([...flood, ...pings]);
    const accepted = count.get('send accepted') ?? 0;
    // At most one second of burst per bucket plus what refilled while the flood ran.
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThan(envs.length * senders.length);
    expect(count.get('send RATE_LIMITED: more than N envelopes per second from this identity') ?? 0).toBeGreaterThan(0);
    expect(count.get('frame RATE_LIMITED') ?? 0).toBeGreaterThan(0);
    expect([...count.keys()].every((k) => /^(send accepted|send RATE_LIMITED|frame RATE_LIMITED|frame pong|frame BAD_FRAME)/.test(k))).toBe(true);
    figure('flood answers', JSON.stringify(Object.fromEntries(count)));
    // Every accepted envelope is in the victim's mailbox once (the four connections sent the
    // same 300 envelopes, so an eid may have been accepted more than once), and nothing else.
    const vc = await victim.connect(relay.url);
    let n = 0;
    let after = 0;
    for (;;) {
      const { items, more } = await vc.pull({ after, limit: 500 });
      n += items.length;
      if (items.length) after = items[items.length - 1]!.seq;
      if (!more) break;
    }
    expect(n).toBe(acceptedEids.size + 20);
    for (const r of [...senders, ...pingers]) r.ws.close();
    await hc.close();
    await vc.close();
    await healthy(relay, before, 'floods');
  });
});

describe('connections', () => {
  it(`holds ${CONNS} concurrent connections, most never authenticating, and still serves an honest client`, async () => {
    const relay = await relayWith('--max-conns', String(CONNS + 50), '--auth-timeout', '1h');
    const before = await baseline(relay);
    const conns: Raw[] = [];
    // Open in waves of 100 so the two cores are not swamped by handshakes.
    for (let i = 0; i < CONNS; i += 100) {
      conns.push(...(await Promise.all(Array.from({ length: Math.min(100, CONNS - i) }, () => raw(relay.url)))));
    }
    expect(conns.every((c) => c.hello.t === 'hello')).toBe(true);
    // One in ten authenticates; the others just sit there (or send half a frame of garbage).
    const authed = conns.filter((_, i) => i % 10 === 0);
    await Promise.all(authed.map(async (c) => expect(await rawAuth(c, makeUser())).toMatchObject({ t: 'ok' })));
    for (const [i, c] of conns.entries()) if (i % 10 === 5) c.send('{"v":1,"t":"pi');
    await relay.waitForLog(new RegExp(` connect conn=\\d+ open=${CONNS}\\b`));
    figure('concurrent connections held', CONNS);
    figure('of which authenticated', authed.length);
    // Every one of them is still alive and answered.
    const pongs = await Promise.all(conns.filter((_, i) => i % 10 !== 5).map((c) => c.req({ v: 1, t: 'ping', id: 'p' })));
    expect(pongs.every((p) => p.t === 'pong')).toBe(true);
    // One over the limit is refused, not queued.
    const extra = await Promise.all(Array.from({ length: 50 }, () => raw(relay.url)));
    const over = await raw(relay.url);
    expect(over.hello).toMatchObject({ t: 'error', code: 'TOO_MANY_CONNECTIONS' });
    expect((await over.closed).code).toBe(1013);
    const held = rssKb(relay.proc.pid!);
    figure(`rss KiB with ${CONNS + 50} connections`, held);
    expect(held).toBeLessThanOrEqual(before * RSS_FACTOR);
    for (const c of [...conns, ...extra]) c.ws.terminate();
    await relay.waitForLog(/ disconnect conn=\d+ code=\d+ open=0\b/);
    await healthy(relay, before, 'connections');
  });
});

/** Stops reading a ws client's socket: the kernel buffers fill and the relay's backlog grows. */
function stopReading(ws: WebSocket): Socket {
  const s = (ws as unknown as { _socket: Socket })._socket;
  s.pause();
  return s;
}

describe.each(STORES)('clients that never read (%s store)', (store) => {
  it('does not buffer pushes without bound for a recipient that never reads; the mail waits in the mailbox', async () => {
    // ~18 MiB from one identified sender: past the default stranger share (16 MiB), raised here.
    const relay = await relayOn(store, '--rate-conn', '100000', '--rate-identity', '100000', '--stranger-bytes', '64m');
    const before = await baseline(relay);
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const slow = await raw(relay.url);
    expect(await rawAuth(slow, bob)).toMatchObject({ t: 'ok' });
    stopReading(slow.ws);
    const ca = await alice.connect(relay.url);
    // ~60 KiB envelopes; 300 of them is ~24 MiB of push frames, three times the relay's 8 MiB push backlog.
    const N = scale('HUSH_HOSTILE_SLOW_PUSHES', 300);
    const big = 'x'.repeat(60_000);
    let delivered = 0;
    const eids: string[] = [];
    for (let i = 0; i < N; i += 50) {
      const rs = await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => ca.send(bob.id.signPk, seal(alice, bob, big))));
      for (const r of rs) {
        delivered += r.delivered;
        eids.push(r.eid);
      }
    }
    // Pushes stopped once the backlog was full: the relay did not hold them all in memory.
    expect(delivered).toBeLessThan(N);
    figure('pushes skipped for a reader that never reads', `${N - delivered} of ${N}`);
    const held = rssKb(relay.proc.pid!);
    figure('rss KiB while a recipient never reads', `${before} -> ${held}`);
    expect(held).toBeLessThanOrEqual(before * RSS_FACTOR);
    // Nothing was lost: every envelope is in the mailbox for a pull.
    slow.ws.terminate();
    const cb = await bob.connect(relay.url);
    const got: string[] = [];
    let after = 0;
    for (;;) {
      const { items, more } = await cb.pull({ after, limit: 500 });
      got.push(...items.map((x) => x.eid));
      if (items.length) after = items[items.length - 1]!.seq;
      if (!more) break;
    }
    expect(got.sort()).toEqual([...eids].sort());
    await ca.close();
    await cb.close();
    await healthy(relay, before, 'slow recipient');
  });

  it('drops a client that asks for answers (pulls) and never reads them, before its backlog grows without bound', async () => {
    const relay = await relayOn(store, '--rate-conn', '100000', '--rate-identity', '100000', '--frame-rate', '1000000');
    const before = await baseline(relay);
    const mallory = makeUser();
    await registerUsers(relay.url, mallory);
    // Mallory fills her own mailbox with ~1 MiB so that each 40-byte pull is answered with ~1.3 MiB.
    const cm = await mallory.connect(relay.url);
    const big = 'y'.repeat(60_000);
    await Promise.all(Array.from({ length: 18 }, () => cm.send(mallory.id.signPk, seal(mallory, mallory, big))));
    const r = await raw(relay.url);
    expect(await rawAuth(r, mallory)).toMatchObject({ t: 'ok' });
    stopReading(r.ws);
    const gone = new Promise<void>((res) => r.ws.once('close', () => res()));
    // 300 pulls would be ~400 MiB of answers if the relay buffered them all.
    const PULLS = scale('HUSH_HOSTILE_SLOW_PULLS', 300);
    for (let i = 0; i < PULLS; i++) r.send({ v: 1, t: 'pull', id: `p${i}`, limit: 500 });
    const line = await relay.waitForLog(/ slow conn=\d+/);
    figure('slow reader dropped at', line.replace(/^.* slow /, ''));
    const held = rssKb(relay.proc.pid!);
    figure('rss KiB while a client pulls and never reads', `${before} -> ${held}`);
    expect(held).toBeLessThanOrEqual(before * RSS_FACTOR);
    stopReading(r.ws).resume();
    await gone;
    await cm.close();
    await healthy(relay, before, 'slow puller');
  });
});

describe.each(STORES)('auth replay, other mailboxes, other names (%s store)', (store) => {
  it('refuses an auth answer made for relay A when presented to relay B, and a replay on A itself', async () => {
    const a = await relayOn(store);
    const b = await relayOn(store);
    const u = makeUser();
    const ra = await raw(a.url);
    const time = Date.now();
    const sig = signDetached(authSignedBytes(Buffer.from(String(ra.hello.challenge), 'base64'), a.url, time), u.id.signSk);
    const frame = { v: 1, t: 'auth', id: 'a', signPk: toB64(u.id.signPk), url: a.url, time, sig: toB64(sig) };
    // Presented as is to B: it names A's url.
    const rb1 = await raw(b.url);
    expect(await rb1.req(frame)).toMatchObject({ t: 'error', code: 'AUTH_WRONG_URL' });
    expect((await rb1.closed).code).toBe(1008);
    // Presented to B claiming B's url: the signature covers A's url and A's challenge.
    const rb2 = await raw(b.url);
    expect(await rb2.req({ ...frame, url: b.url })).toMatchObject({ t: 'error', code: 'AUTH_FAILED' });
    expect((await rb2.closed).code).toBe(1008);
    // Even when B happens to get the same challenge bytes it would not matter: B signs its own url in.
    // The genuine use on A works once, then never again on a new connection.
    expect(await ra.req(frame)).toMatchObject({ t: 'ok' });
    const ra2 = await raw(a.url);
    expect(await ra2.req(frame)).toMatchObject({ t: 'error', code: 'AUTH_FAILED' });
    ra.ws.close();
    // Nothing was granted on B: the identity's mailbox there is untouched and B still serves.
    expect(b.log()).not.toMatch(/ auth conn=/);
    await stillServes(b.url);
  });

  it("cannot read, ack or fill-count another identity's mailbox, whatever the frame says", async () => {
    const relay = await relayOn(store, '--mailbox-count', '5', '--stranger-share', '100'); // identified sends may fill it all
    const alice = makeUser();
    const bob = makeUser();
    const mallory = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const envs = [1, 2, 3].map((i) => seal(alice, bob, `for bob ${i}`));
    const eids = [];
    for (const e of envs) eids.push((await ca.send(bob.id.signPk, e)).eid);
    const rm = await raw(relay.url);
    expect(await rawAuth(rm, mallory)).toMatchObject({ t: 'ok' });
    // The eid is public (a hash of the envelope): Mallory acks bob's mail by eid, with extra fields naming bob.
    const acked = await rm.req({ v: 1, t: 'ack', id: 'k', eids, to: toB64(bob.id.signPk), recipient: toB64(bob.id.signPk), signPk: toB64(bob.id.signPk) });
    expect(acked).toMatchObject({ t: 'ok', deleted: 0 });
    for (const after of [0, 1, 2 ** 40]) {
      expect(await rm.req({ v: 1, t: 'pull', id: 'p', after, limit: 500, signPk: toB64(bob.id.signPk) })).toMatchObject({ t: 'mail', items: [] });
    }
    // Her failed acks did not free room in bob's quota (5): two more fit, the third does not.
    await ca.send(bob.id.signPk, seal(alice, bob, '4'));
    await ca.send(bob.id.signPk, seal(alice, bob, '5'));
    await expect(ca.send(bob.id.signPk, seal(alice, bob, '6'))).rejects.toMatchObject({ code: 'MAILBOX_FULL' });
    const cb = await bob.connect(relay.url);
    const { items } = await cb.pull();
    expect(items.map((i) => i.eid).slice(0, 3)).toEqual(eids);
    expect(items).toHaveLength(5);
    rm.ws.close();
    await ca.close();
    await cb.close();
  });

  it("cannot register over another identity's name (not with her own bundle, the victim's replayed bundle, a rollback) nor release it", async () => {
    const relay = await relayOn(store);
    const bob = makeUser('bob');
    const mallory = makeUser('mallory');
    const cb = await bob.connect(relay.url);
    const older = makeBundle(bob.id, 'bob', Date.now() - 60_000);
    await cb.register(bob.bundle);
    const rm = await raw(relay.url);
    expect(await rawAuth(rm, mallory)).toMatchObject({ t: 'ok' });
    const mine = makeBundle(mallory.id, 'bob', Date.now());
    expect(await rm.req({ v: 1, t: 'register', id: 'r1', bundle: bundleToJson(mine) })).toMatchObject({ code: 'NAME_TAKEN' });
    // Bob's own signed bundle, replayed by Mallory: it is for another identity.
    expect(await rm.req({ v: 1, t: 'register', id: 'r2', bundle: bundleToJson(bob.bundle) })).toMatchObject({ code: 'BAD_BUNDLE' });
    // Bob's bundle with Mallory's box key swapped in: the signature breaks.
    const swapped = { ...bundleToJson(bob.bundle), boxPk: toB64(mallory.id.boxPk) };
    expect(await rm.req({ v: 1, t: 'register', id: 'r3', bundle: swapped })).toMatchObject({ code: 'BAD_BUNDLE' });
    // Case and Unicode look-alikes of the name are not names at all.
    for (const name of ['Bob', 'bob ', 'bоb' /* Cyrillic o */, 'bob\u0000']) {
      const b = { ...bundleToJson(mine), name };
      const f = await rm.req({ v: 1, t: 'register', id: 'r4', bundle: b });
      expect(f.t, name).toBe('error');
      expect(['BAD_BUNDLE', 'BAD_FRAME']).toContain(f.code);
    }
    // Nor can she release his name (only the holding key can), in any spelling.
    expect(await rm.req({ v: 1, t: 'release', id: 'r5', name: 'bob' })).toMatchObject({ code: 'NAME_TAKEN' });
    for (const name of ['Bob', 'bob ', 'bоb', 'bob\u0000']) expect(await rm.req({ v: 1, t: 'release', id: 'r6', name })).toMatchObject({ code: 'BAD_FRAME' });
    // Bob's older bundle (a captured one) cannot roll his entry back.
    await expect(cb.register(older)).rejects.toMatchObject({ code: 'BAD_BUNDLE' });
    const found = await (await mallory.connect(relay.url)).lookup({ name: 'bob' });
    expect(toB64(found.signPk)).toBe(toB64(bob.id.signPk));
    expect(toB64(found.boxPk)).toBe(toB64(bob.id.boxPk));
    expect(found.created).toBe(bob.bundle.created);
    rm.ws.close();
    await cb.close();
  });
});
