/**
 * Relays sharing one Redis (issue #16; docs/PROTOCOL.md §7.8): a real redis-server (AOF,
 * appendfsync always) and two real relay processes on it. Mail accepted on one is pushed by
 * the other; names are first-come across both (racing registrations: exactly one wins); an
 * envelope sent through both is stored once; the mailbox quota holds across both; and the
 * relay refuses a Redis that keeps no append-only file; a name transfer moves the name on both;
 * one-time prekeys go to exactly one of two relays racing for them; blob frames of a relay
 * started without --blob-dir are refused with their documented code (blobs across relays:
 * test/cli/redis-deployment.test.ts). Kill -9 and Redis restarts are in
 * redis-durability.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PushItem } from '../../src/client/relay-client.js';
import { makeBundle } from '../../src/crypto/bundle.js';
import { randomBytes, signDetached } from '../../src/crypto/nacl.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey, verifyPrekeyBundle } from '../../src/crypto/prekeys.js';
import { transferSignedBytes } from '../../src/protocol/name-transfer.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { skipWithout } from '../needs.js';
import { cleanupTmp, makeUser, registerUsers, type RelayProc, seal, startRelayProcess } from './helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from './redis-helpers.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const BIN = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin/hush-relay.js');
const QUOTA = 20;

describe.skipIf(skipWithout('redis-server', whyNoRedis()))('two relays on one Redis', () => {
  let redis: RedisProc;
  let a: RelayProc;
  let b: RelayProc;
  const extra: RedisProc[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    // A share of 100%: identified senders may fill the mailbox, whose quota (checked in Redis) is under test;
    // --prekey-rate 100: the prekey race publishes and fetches on the same connections, round after round.
    const args = ['--mailbox-count', String(QUOTA), '--stranger-share', '100', '--prekey-rate', '100'];
    [a, b] = await Promise.all([startRelayProcess({ store: redis.url, args }), startRelayProcess({ store: redis.url, args })]);
  });
  afterAll(async () => {
    const codes = await Promise.all([a, b].map((r) => r?.stop()));
    for (const r of [redis, ...extra]) await r?.stop();
    cleanupTmp();
    expect(codes).toEqual([0, 0]);
  });

  it('mail accepted on relay A is pushed to the recipient listening on relay B, pulled and acknowledged there, and gone from A', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(a.url, bob); // registered through A, known to B
    const cb = await bob.connect(b.url);
    const pushed = new Promise<PushItem>((resolve) => cb.on('push', resolve));
    const ca = await alice.connect(a.url);
    const env = seal(alice, bob, 'across relays');
    const r = await ca.send(bob.id.signPk, env);
    expect(r).toMatchObject({ eid: envelopeId(env), stored: true });
    const push = await pushed;
    expect(push).toMatchObject({ eid: envelopeId(env), ephemeral: false });
    expect(Buffer.from(push.env).equals(Buffer.from(env))).toBe(true);
    const { items } = await cb.pull();
    expect(items.map((i) => i.eid)).toEqual([envelopeId(env)]);
    expect(items[0]!.seq).toBe(push.seq);
    expect(await cb.ack([envelopeId(env)])).toBe(1);
    const cb2 = await bob.connect(a.url);
    expect((await cb2.pull()).items).toEqual([]);
    await Promise.all([ca.close(), cb.close(), cb2.close()]);
    expect(a.log()).not.toMatch(/internal-error|store-error/);
    expect(b.log()).not.toMatch(/internal-error|store-error/);
  });

  it('two relays racing for the same name: exactly one identity gets it, and both relays name the winner', async () => {
    for (let i = 0; i < 10; i++) {
      const name = `race-${i}-${Date.now()}`;
      const u1 = { ...makeUser(), name };
      const u2 = { ...makeUser(), name };
      const [c1, c2] = await Promise.all([u1.connect(a.url), u2.connect(b.url)]);
      const results = await Promise.allSettled([c1.register(makeBundle(u1.id, name, Date.now())), c2.register(makeBundle(u2.id, name, Date.now()))]);
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'NAME_TAKEN' });
      const winner = results[0]!.status === 'fulfilled' ? u1 : u2;
      for (const c of [c1, c2]) expect(Buffer.from((await c.lookup({ name })).signPk).equals(Buffer.from(winner.id.signPk))).toBe(true);
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('two relays racing for the last one-time prekeys: exactly one fetch gets them, the other the last-resort KEM prekey and no one-time key (PQXDH)', async () => {
    const zoe = makeUser();
    await registerUsers(a.url, zoe);
    const cz = await zoe.connect(b.url);
    const box = { signPk: zoe.id.signPk, boxPk: zoe.id.boxPk };
    await cz.publishPrekeys({ spk: generateSignedPrekey(zoe.id, 1, Date.now() + 3600_000, randomBytes), lastResort: generateKemPrekey(zoe.id, 9999, 'last-resort', randomBytes) });
    const bob = makeUser();
    const [fa, fb] = await Promise.all([bob.connect(a.url), bob.connect(b.url)]);
    for (let i = 1; i <= 8; i++) {
      const up = { opks: [generateOneTimePrekey(i, randomBytes)], kems: [generateKemPrekey(zoe.id, i, 'one-time', randomBytes)] };
      expect(await cz.publishPrekeys(up)).toMatchObject({ opks: 1, kems: 1, lastResort: { id: 9999 } }); // published through B
      const got = (await Promise.all([fa.fetchBundle(zoe.id.signPk), fb.fetchBundle(zoe.id.signPk)])).map((x) => verifyPrekeyBundle(x!, box, Date.now()));
      const winners = got.filter((x) => x.opk);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toMatchObject({ opk: { id: i, pk: up.opks[0]!.pk }, kem: { kind: 'one-time', id: i } });
      const loser = got.find((x) => !x.opk)!;
      expect(loser.kem).toMatchObject({ kind: 'last-resort', id: 9999 });
      expect(await cz.prekeyStatus()).toMatchObject({ opks: 0, kems: 0 });
    }
    await Promise.all([cz.close(), fa.close(), fb.close()]);
    expect(a.log()).not.toMatch(/internal-error|store-error/);
  });

  it('blob frames are refused clearly without --blob-dir (NOT_FOUND); a name transfer through one relay moves the name on both', async () => {
    const zoe = makeUser();
    await registerUsers(a.url, zoe);
    const cz = await zoe.connect(b.url);
    const next = { ...makeUser(), name: zoe.name };
    const cn = await next.connect(a.url);
    const sig = signDetached(transferSignedBytes(zoe.name, zoe.id.signPk, next.id.signPk), zoe.id.signSk);
    await expect(cn.transfer(makeBundle(next.id, zoe.name, Date.now()), next.id.signPk, sig)).rejects.toMatchObject({ code: 'BAD_TRANSFER' }); // not signed by the holder
    expect(Buffer.from((await cz.lookup({ name: zoe.name })).signPk).equals(Buffer.from(zoe.id.signPk))).toBe(true); // still zoe's
    await cn.transfer(makeBundle(next.id, zoe.name, Date.now()), zoe.id.signPk, sig); // through A
    expect(Buffer.from((await cz.lookup({ name: zoe.name })).signPk).equals(Buffer.from(next.id.signPk))).toBe(true); // B names the new key
    await expect(cz.lookup({ signPk: zoe.id.signPk })).rejects.toMatchObject({ code: 'NOT_FOUND' }); // the old key holds no name
    const alice = makeUser();
    const ca = await alice.connect(b.url);
    await expect(ca.send(zoe.id.signPk, seal(alice, zoe, 'to the old key'))).rejects.toMatchObject({ code: 'UNKNOWN_RECIPIENT' });
    expect(await ca.send(next.id.signPk, seal(alice, next, 'to the new key'))).toMatchObject({ stored: true });
    await ca.close();
    await expect(cz.blobBegin([zoe.id.signPk], 100, 100, 1)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/started without --blob-dir/) as unknown });
    await Promise.all([cz.close(), cn.close()]);
    expect(a.log()).not.toMatch(/internal-error|store-error/);
    expect(b.log()).not.toMatch(/internal-error|store-error/);
  });

  it('the same envelope sent through both relays at once is stored once; a released name is free on both', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(b.url, bob);
    const [ca, cb] = await Promise.all([alice.connect(a.url), alice.connect(b.url)]);
    const env = seal(alice, bob, 'twice');
    const [r1, r2] = await Promise.all([ca.send(bob.id.signPk, env), cb.send(bob.id.signPk, env)]);
    expect(r1.eid).toBe(r2.eid);
    const bobC = await bob.connect(a.url);
    expect((await bobC.pull()).items.map((i) => i.eid)).toEqual([envelopeId(env)]);
    // Released through A: B no longer takes mail for bob, and the name is free there.
    await bobC.release(bob.name);
    await expect(cb.send(bob.id.signPk, seal(alice, bob, 'after release'))).rejects.toMatchObject({ code: 'UNKNOWN_RECIPIENT' });
    const other = { ...makeUser(), name: bob.name };
    const co = await other.connect(b.url);
    await co.register(makeBundle(other.id, bob.name, Date.now()));
    await Promise.all([ca.close(), cb.close(), bobC.close(), co.close()]);
  });

  it('--mailbox-count holds across relays: sends racing through both store exactly the quota, the rest is MAILBOX_FULL; the auth answer counts them', async () => {
    const bob = makeUser();
    await registerUsers(a.url, bob);
    const senders = Array.from({ length: 4 }, () => makeUser());
    const conns = await Promise.all(senders.map((s, i) => s.connect(i % 2 === 0 ? a.url : b.url)));
    await registerUsers(a.url, ...senders); // not strangers to each other: the quota under test is the mailbox's
    const results = await Promise.allSettled(
      conns.flatMap((c, i) => Array.from({ length: 10 }, (_, k) => c.send(bob.id.signPk, seal(senders[i]!, bob, `n${k}`)))), // 40 sends for 20 places
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { code: string });
    expect(ok).toBe(QUOTA);
    expect(new Set(refused.map((e) => e.code))).toEqual(new Set(['MAILBOX_FULL']));
    const cb = await bob.connect(b.url);
    expect(cb.waitingAtAuth).toBe(QUOTA); // the auth answer counts the shared mailbox (§7.3 `waiting`)
    expect((await cb.pull({ limit: 100 })).items).toHaveLength(QUOTA);
    await Promise.all([...conns, cb].map((c) => c.close()));
  });

  it('refuses a Redis without an append-only file (exit 2, RELAY_STORE_VOLATILE) unless --redis-allow-volatile; warns on appendfsync everysec; an unreachable Redis is exit 2', async () => {
    const volatile = await startRedis({ appendonly: 'no' });
    const everysec = await startRedis({ appendfsync: 'everysec' });
    extra.push(volatile, everysec);
    const refused = spawnSync(process.execPath, [BIN, '--port', '0', '--store', volatile.url], { encoding: 'utf8', timeout: 15_000 });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^hush-relay: error: the Redis store redis:\/\/127\.0\.0\.1:\d+\/0 keeps no append-only file \(appendonly no\)/);
    expect(refused.stderr).toMatch(/\nhush-relay: hint: configure Redis with appendonly yes and appendfsync always, or accept losing mail with --redis-allow-volatile\n/);
    const allowed = await startRelayProcess({ store: volatile.url, args: ['--redis-allow-volatile'] });
    expect(allowed.log()).toMatch(/hush-relay: warning: VOLATILE STORE: .* every envelope accepted is lost when Redis stops/);
    expect(await allowed.stop()).toBe(0);
    const warned = await startRelayProcess({ store: everysec.url });
    expect(warned.log()).toMatch(/hush-relay: warning: redis:\/\/127\.0\.0\.1:\d+\/0 has appendfsync everysec: envelopes accepted in the last 1 to 2 seconds before a crash/);
    expect(await warned.stop()).toBe(0);
    await everysec.stop();
    const gone = spawnSync(process.execPath, [BIN, '--port', '0', '--store', everysec.url], { encoding: 'utf8', timeout: 15_000 });
    expect(gone.status).toBe(2);
    expect(gone.stderr).toMatch(/^hush-relay: error: cannot connect to the Redis store redis:\/\/127\.0\.0\.1:\d+\/0 \(ECONNREFUSED\)\nhush-relay: hint: /);
    const both = spawnSync(process.execPath, [BIN, '--port', '0', '--store', redis.url, '--data', '/tmp/x'], { encoding: 'utf8', timeout: 15_000 });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/^hush-relay: error: --data is the SQLite store; this relay stores in Redis/);
    const badBlobDir = spawnSync(process.execPath, [BIN, '--port', '0', '--store', redis.url, '--blob-dir', '/dev/null/blobs'], { encoding: 'utf8', timeout: 15_000 });
    expect(badBlobDir.status).toBe(2);
    expect(badBlobDir.stderr).toMatch(/^hush-relay: error: cannot use the blob directory \/dev\/null\/blobs \(ENOTDIR\)\nhush-relay: hint: give --blob-dir/);
    const blobDirAlone = spawnSync(process.execPath, [BIN, '--port', '0', '--blob-dir', '/tmp/x'], { encoding: 'utf8', timeout: 15_000 });
    expect(blobDirAlone.status).toBe(2);
    expect(blobDirAlone.stderr).toMatch(/^hush-relay: error: --blob-dir is for relays on a Redis store; a SQLite relay keeps its blobs in DATA\/blobs\nhush-relay: hint: /);
  });
});
