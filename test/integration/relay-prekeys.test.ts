/**
 * v2 prekeys on a real relay process (docs/PROTOCOL.md §7.2 "Prekeys", §9.2): publishing with
 * every signature checked against the registered keys, bundles handed out with each one-time key
 * at most once (also under concurrent fetches from many connections), exhaustion and the
 * last-resort KEM prekey, the per-connection rate, the per-identity handout window, release, and
 * a restart. Every case runs on both stores: the SQLite file and a real redis-server (§7.8.1,
 * relay/prekeys-redis.ts). One relay per store; each test has its own identities. Relays racing
 * on one Redis for the last one-time prekey: redis-relays.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from '../../src/crypto/nacl.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey, type KemPrekey, verifyPrekeyBundle } from '../../src/crypto/prekeys.js';
import type { RelayClient } from '../../src/client/relay-client.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { parsePrekeyBundle, type PrekeyBundle } from '../../src/protocol/prekey-bundle.js';
import { encodePrekeyUpload, type PrekeyUpload } from '../../src/protocol/prekey-upload.js';
import { skipWithout } from '../needs.js';
import { cleanupTmp, makeUser, raw, rawAuth, registerUsers, type RelayProc, startRelayProcess, type User } from './helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from './redis-helpers.js';

const DAY = 24 * 3600_000;
/** --prekey-cap of the file's relay: above every pool a test publishes. */
const CAP = 40;
const RELAY_ARGS = ['--prekey-handouts', '25', '--prekey-cap', String(CAP)];
let relay: RelayProc;

const kemFor = (u: User, id: number, kind: 'one-time' | 'last-resort'): KemPrekey => generateKemPrekey(u.id, id, kind, randomBytes);

/** A full upload for `u`: a signed prekey, a last-resort KEM prekey, `opks` one-time X25519 and `kems` one-time KEM prekeys. */
function fullUpload(u: User, opks: number, kems: number, opts: { lastResort?: boolean } = {}): PrekeyUpload {
  const spk = generateSignedPrekey(u.id, 1, Date.now() + 7 * DAY, randomBytes);
  return {
    spk,
    ...(opts.lastResort === false ? {} : { lastResort: kemFor(u, 1000, 'last-resort') }),
    opks: Array.from({ length: opks }, (_, i) => generateOneTimePrekey(100 + i, randomBytes)),
    kems: Array.from({ length: kems }, (_, i) => kemFor(u, 500 + i, 'one-time')),
  };
}

/** A registered user with an open connection. */
async function online(u = makeUser()): Promise<{ u: User; c: RelayClient }> {
  await registerUsers(relay.url, u);
  return { u, c: await u.connect(relay.url) };
}

/** `n` fetches of `target`'s bundle spread over `conns` fresh connections of `by`, all in flight at once. */
async function fetchMany(by: User, target: User, n: number, conns: number): Promise<(PrekeyBundle | null | { error: string })[]> {
  const cs = await Promise.all(Array.from({ length: conns }, () => by.connect(relay.url)));
  try {
    return await Promise.all(Array.from({ length: n }, (_, i) => cs[i % conns]!.fetchBundle(target.id.signPk).catch((e: { code: string }) => ({ error: e.code }))));
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
}

afterAll(() => cleanupTmp());

for (const kind of ['sqlite', 'redis'] as const) {
  describe.skipIf(kind === 'redis' && skipWithout('redis-server', whyNoRedis()))(`on the ${kind} store`, () => {
    let redis: RedisProc | undefined;
    beforeAll(async () => {
      if (kind === 'redis') redis = await startRedis();
      relay = await startRelayProcess({ args: RELAY_ARGS, ...(redis ? { store: redis.url } : {}) });
    });
    afterAll(async () => {
      expect(relay.log()).not.toMatch(/internal-error|store-error/);
      await relay?.stop();
      await redis?.stop();
    });

    describe('publish and fetch', () => {
      it('stores an upload, reports its status, and hands out a bundle that verifies against the pinned keys', async () => {
        const { u: alice, c } = await online();
        const { c: cb } = await online();
        expect(await c.prekeyStatus()).toEqual({ opks: 0, kems: 0 });
        expect(await cb.fetchBundle(alice.id.signPk)).toBeNull(); // registered, nothing published: NO_PREKEYS, send v1

        const up = fullUpload(alice, 3, 2);
        const status = await c.publishPrekeys(up);
        expect(status).toEqual({ opks: 3, kems: 2, spk: { id: 1, expires: up.spk!.expires }, lastResort: { id: 1000 } });
        expect(await c.prekeyStatus()).toEqual(status);

        const b = (await cb.fetchBundle(alice.id.signPk))!;
        expect(verifyPrekeyBundle(b, { signPk: alice.id.signPk, boxPk: alice.id.boxPk }, Date.now())).toBe(b);
        expect(b.spk.pk).toEqual(up.spk!.pk);
        expect(b.opk).toEqual({ id: 100, pk: up.opks![0]!.pk });
        expect(b.kem).toMatchObject({ kind: 'one-time', id: 500, pk: up.kems![0]!.pk });
        expect(await c.prekeyStatus()).toMatchObject({ opks: 2, kems: 1 });

        // Re-publishing ids the relay holds adds nothing (the first key with an id stays); new ids add.
        const again = await c.publishPrekeys({ opks: [...up.opks!.slice(1), generateOneTimePrekey(200, randomBytes)] });
        expect(again).toMatchObject({ opks: 3, kems: 1 });
        await Promise.all([c.close(), cb.close()]);
      });

      it('answers NOT_FOUND for a key that is not registered, and for an upload from one', async () => {
        const { c } = await online();
        await expect(c.fetchBundle(makeUser().id.signPk)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        const stranger = makeUser();
        const sc = await stranger.connect(relay.url);
        await expect(sc.publishPrekeys(fullUpload(stranger, 1, 0))).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await Promise.all([c.close(), sc.close()]);
      });

      it('falls back to the last-resort KEM prekey and then to no prekeys at all when nothing is left', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 1, 1, { lastResort: false }));
        const first = (await c.fetchBundle(alice.id.signPk))!;
        expect(first.opk?.id).toBe(100);
        expect(first.kem).toMatchObject({ kind: 'one-time', id: 500 });
        expect(await c.fetchBundle(alice.id.signPk)).toBeNull(); // no KEM prekey of any kind: NO_PREKEYS
        await c.publishPrekeys({ lastResort: kemFor(alice, 7, 'last-resort') });
        const later = (await c.fetchBundle(alice.id.signPk))!;
        expect(later.opk).toBeUndefined();
        expect(later.kem).toMatchObject({ kind: 'last-resort', id: 7 });
        expect(await c.prekeyStatus()).toEqual({ opks: 0, kems: 0, spk: { id: 1, expires: expect.any(Number) as number }, lastResort: { id: 7 } });
        await c.close();
      });
    });

    describe('refusals change nothing', () => {
      it('refuses a bad signature, a wrong signer, an expired signed prekey and malformed bytes (BAD_PREKEYS), storing none of the upload', async () => {
        const { u: alice, c } = await online();
        const mallory = makeUser();
        await c.publishPrekeys(fullUpload(alice, 2, 1));
        const before = await c.prekeyStatus();

        const flipped = fullUpload(alice, 5, 1);
        flipped.kems![0]!.sig[0]! ^= 1;
        const wrongSigner = { ...fullUpload(mallory, 5, 0), opks: [generateOneTimePrekey(900, randomBytes)] };
        const expired = { spk: generateSignedPrekey(alice.id, 2, Date.now() - 1, randomBytes), opks: [generateOneTimePrekey(901, randomBytes)] };
        const lastResortAsOneTime = { kems: [kemFor(alice, 600, 'last-resort')], opks: [generateOneTimePrekey(902, randomBytes)] };
        for (const bad of [flipped, wrongSigner, expired, lastResortAsOneTime]) {
          await expect(c.publishPrekeys(bad)).rejects.toMatchObject({ code: 'BAD_PREKEYS' });
        }
        const r = await raw(relay.url);
        await rawAuth(r, alice);
        const good = encodePrekeyUpload({ opks: [generateOneTimePrekey(903, randomBytes)] });
        for (const bytes of [Uint8Array.of(2, 0, 0, 0, 0, 0), Uint8Array.of(1, 4, 0, 0, 0, 0), good.subarray(0, good.length - 1), Uint8Array.of(...good, 0)]) {
          expect(await r.req({ v: 1, t: 'prekeys', id: 'p', upload: toB64(bytes) })).toMatchObject({ t: 'error', code: 'BAD_PREKEYS' });
        }
        expect(await r.req({ v: 1, t: 'prekeys', id: 'p', upload: 'not base64!' })).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
        expect(await r.req({ v: 1, t: 'fetch-prekeys', id: 'f', signPk: toB64(new Uint8Array(31)) })).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
        r.ws.close();

        expect(await c.prekeyStatus()).toEqual(before);
        const b = (await c.fetchBundle(alice.id.signPk))!;
        expect(verifyPrekeyBundle(b, { signPk: alice.id.signPk, boxPk: alice.id.boxPk }, Date.now())).toBe(b);
        await c.close();
      });

      it('needs auth to publish, not to fetch (like lookup)', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 1, 0));
        const r = await raw(relay.url);
        expect(await r.req({ v: 1, t: 'prekeys', id: 'p' })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
        const answer = await r.req({ v: 1, t: 'fetch-prekeys', id: 'f', signPk: toB64(alice.id.signPk) });
        expect(answer).toMatchObject({ t: 'prekey-bundle', id: 'f' });
        const b = parsePrekeyBundle(Buffer.from(String(answer.bundle), 'base64'));
        expect(verifyPrekeyBundle(b, { signPk: alice.id.signPk, boxPk: alice.id.boxPk }, Date.now()).opk?.id).toBe(100);
        r.ws.close();
        await c.close();
      });

      it('caps the one-time prekeys kept per identity (TOO_MANY_PREKEYS), keeping what was there', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, CAP - 1, 0));
        const two = { opks: [1, 2].map((i) => generateOneTimePrekey(i, randomBytes)) };
        await expect(c.publishPrekeys(two)).rejects.toMatchObject({ code: 'TOO_MANY_PREKEYS' });
        expect(await c.prekeyStatus()).toMatchObject({ opks: CAP - 1 });
        expect(await c.publishPrekeys({ opks: [generateOneTimePrekey(1, randomBytes)] })).toMatchObject({ opks: CAP });
        expect(c.hello.limits.prekeyCap).toBe(CAP);
        await c.close();
      });
    });

    describe('one-time keys are handed out once', () => {
      it('50 concurrent fetches over 10 connections share 20 OPKs and 10 one-time KEM prekeys: each at most once, then the last resort', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 20, 10));
        const bob = makeUser();
        await registerUsers(relay.url, bob);
        const got = await fetchMany(bob, alice, 50, 10);
        const bundles = got.filter((b): b is PrekeyBundle => b !== null && !('error' in b));
        expect(bundles).toHaveLength(50);
        const opkIds = bundles.flatMap((b) => (b.opk ? [b.opk.id] : []));
        expect(opkIds).toHaveLength(20);
        expect(new Set(opkIds).size).toBe(20);
        const oneTimeKems = bundles.filter((b) => b.kem.kind === 'one-time').map((b) => b.kem.id);
        expect(new Set(oneTimeKems).size).toBe(10);
        expect(oneTimeKems).toHaveLength(10);
        expect(bundles.filter((b) => b.kem.kind === 'last-resort')).toHaveLength(40);
        for (const b of bundles) expect(verifyPrekeyBundle(b, { signPk: alice.id.signPk, boxPk: alice.id.boxPk }, Date.now())).toBe(b);
        expect(await c.prekeyStatus()).toMatchObject({ opks: 0, kems: 0 });
        await c.close();
      });

      it('hands one identity’s one-time keys out at most --prekey-handouts times an hour, then serves bundles without them', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 30, 0));
        const bob = makeUser();
        await registerUsers(relay.url, bob);
        const got = (await fetchMany(bob, alice, 30, 6)) as PrekeyBundle[];
        expect(got.filter((b) => b.opk)).toHaveLength(25);
        expect(got.filter((b) => !b.opk && b.kem.kind === 'last-resort')).toHaveLength(5);
        expect(await c.prekeyStatus()).toMatchObject({ opks: 5 });
        await c.close();
      });

      it('limits prekey frames per connection (RATE_LIMITED)', async () => {
        // No one-time keys: each fetch only reads, so 60 requests in one burst pass 10/s whatever the load.
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 0, 0));
        const bob = makeUser();
        await registerUsers(relay.url, bob);
        const results = await fetchMany(bob, alice, 60, 1);
        const limited = results.filter((r) => r !== null && 'error' in r);
        expect(limited.length).toBeGreaterThan(0);
        for (const r of limited) expect(r).toEqual({ error: 'RATE_LIMITED' });
        await c.close();
      });
    });

    describe('release and restart', () => {
      it('drops a released key’s prekeys: re-registered, it has none', async () => {
        const { u: alice, c } = await online();
        await c.publishPrekeys(fullUpload(alice, 2, 1));
        await c.release(alice.name);
        await expect(c.fetchBundle(alice.id.signPk)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await c.register(alice.bundle);
        expect(await c.prekeyStatus()).toEqual({ opks: 0, kems: 0 });
        expect(await c.fetchBundle(alice.id.signPk)).toBeNull();
        await c.close();
      });

      it(`keeps prekeys across a restart, in ${kind === 'sqlite' ? 'relay.sqlite schema 3' : 'Redis'}`, async () => {
        const { u: alice, c } = await online();
        const status = await c.publishPrekeys(fullUpload(alice, 4, 2));
        await c.close();
        const dataDir = relay.dataDir;
        expect(await relay.stop()).toBe(0);
        if (kind === 'sqlite') {
          const db = new Database(join(dataDir, 'relay.sqlite'), { readonly: true });
          expect(db.pragma('user_version', { simple: true })).toBe(3);
          db.close();
        }
        relay = await startRelayProcess({ args: RELAY_ARGS, ...(redis ? { store: redis.url } : { dataDir }) });
        const c2 = await alice.connect(relay.url);
        expect(await c2.prekeyStatus()).toEqual(status);
        const b = (await c2.fetchBundle(alice.id.signPk))!;
        expect(b.opk?.id).toBe(100);
        await c2.close();
      });
    });
  });
}

describe('flags', () => {
  it('refuses a prekey limit below its minimum at start-up: one error line, a hint, exit 2', () => {
    const bin = fileURLToPath(new URL('../../bin/hush-relay.js', import.meta.url));
    // One spawn: the three prekey flags go through the same LIMITS parsing (relay/config.ts).
    const r = spawnSync(process.execPath, [bin, '--port', '0', '--prekey-handouts', '100', '--prekey-cap', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hush-relay: error: --prekey-cap must be at least 1\nhush-relay: hint: /);
  });
});
