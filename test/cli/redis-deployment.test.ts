/**
 * One deployment of several relays sharing one Redis (issue #16, docs/PROTOCOL.md §7.8.1), used
 * through the real CLI: two homes registered through two different relays start a v2 session
 * (the prekeys published through one relay are handed out by the other), and a file sent
 * through one relay is saved through the other (blob metadata in Redis, the bytes in the
 * --blob-dir both relays share), and a home whose relay is killed (kill -9) goes on through
 * the next URL of config.json relayFallbacks. One redis-server and two relay processes for the
 * file (and a third, killed, for the failover).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithout } from '../needs.js';
import { cleanupTmp, type RelayProc, startRelayProcess, tmpDir } from '../integration/helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from '../integration/redis-helpers.js';
import { historyOf, jsonOf, newUser, spawnHush, type TestUser } from './messaging-helpers.js';

describe.skipIf(skipWithout('redis-server', whyNoRedis()))('a deployment of two relays on one Redis, through the CLI', () => {
  let redis: RedisProc;
  let a: RelayProc;
  let b: RelayProc;
  let alice: TestUser;
  let bob: TestUser;
  /** The blob directory both relays share (as a shared file system would be on two machines). */
  const blobDir = tmpDir('hush-shared-blobs-');
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const blobFiles = (): string[] => readdirSync(path.join(blobDir, 'blobs')).filter((f) => f.endsWith('.blob'));

  beforeAll(async () => {
    redis = await startRedis();
    const args = ['--blob-dir', blobDir];
    [a, b] = await Promise.all([startRelayProcess({ store: redis.url, args }), startRelayProcess({ store: redis.url, args })]);
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

  it('a file sent through relay A is saved through relay B: metadata in Redis, ciphertext only in the shared blob directory, deleted once saved', async () => {
    const marker = Buffer.from(`HUSH-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`);
    const data = Buffer.concat(Array.from({ length: 1050 }, () => Buffer.concat([marker, randomBytes(1000)]))); // ~1.09 MB: two 1 MiB chunks
    const work = tmpDir('hush-redis-files-');
    const src = path.join(work, 'report.pdf');
    await fsp.writeFile(src, data);
    const sent = await alice.run(['send', 'bob', '--file', src, '--json']);
    expect(sent.exitCode).toBe(0);
    const fileSent = jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!;
    expect(fileSent).toMatchObject({ to: 'bob', name: 'report.pdf', size: data.length, sha256: sha(data) });
    expect(blobFiles()).toHaveLength(1);
    const onDisk = readFileSync(path.join(blobDir, 'blobs', blobFiles()[0]!));
    expect(onDisk.includes(marker)).toBe(false);
    expect(statSync(path.join(blobDir, 'blobs', blobFiles()[0]!)).mode & 0o077).toBe(0);

    expect((await bob.run(['pull'])).stdout).toContain('alice sent report.pdf'); // bob's relay is B
    const out = path.join(work, 'out');
    await fsp.mkdir(out);
    const saved = await bob.run(['save', String(fileSent.id), '-o', out]);
    expect(saved.stderr).toMatch(/^saved report\.pdf /);
    expect(saved.exitCode).toBe(0);
    expect(sha(await fsp.readFile(path.join(out, 'report.pdf')))).toBe(sha(data));
    expect(blobFiles()).toEqual([]); // acked through B by its only recipient: file and metadata gone
    const again = await bob.run(['save', String(fileSent.id), '-o', path.join(out, 'again.pdf')]);
    expect(again.exitCode).toBe(4);
    for (const r of [a, b]) expect(r.log()).not.toMatch(/internal-error|store-error/);
  });

  it('failover: the relay of a home with relayFallbacks is killed (kill -9); listen goes on through the next URL and keeps printing, send goes through', async () => {
    const k = await startRelayProcess({ store: redis.url });
    const dave = await newUser('dave', k.url);
    const cfgFile = path.join(dave.home, 'config.json');
    const cfg = JSON.parse(await fsp.readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, relayFallbacks: [b.url] }), { mode: 0o600 });
    const listen = spawnHush(dave.home, ['listen', '--json']);
    try {
      await listen.stderr.waitFor(new RegExp(`^hush: listening on ${k.url} as dave$`));
      expect((await alice.run(['send', 'dave', 'before the kill'])).exitCode).toBe(0);
      expect(await listen.stdout.json(0)).toMatchObject({ event: 'message', from: 'alice', body: 'before the kill' });

      k.proc.kill('SIGKILL');
      await k.exited;
      await listen.stderr.waitFor(new RegExp(`^hush: reconnected to ${b.url}$`));
      expect((await alice.run(['send', 'dave', 'after the kill'])).exitCode).toBe(0);
      expect(await listen.stdout.json(1)).toMatchObject({ event: 'message', from: 'alice', body: 'after the kill' });

      const sent = await dave.run(['send', 'alice', '--json', 'still here']); // relay K is gone: through B
      expect(sent.exitCode).toBe(0);
      expect(jsonOf(sent.stdout)).toMatchObject([{ event: 'sent', to: 'alice', protocol: 2 }]);
      expect((await alice.run(['pull'])).stdout).toContain('still here');
    } finally {
      listen.kill('SIGINT');
    }
    expect((await listen.done).exitCode).toBe(0);
    expect(listen.stderr.lines.filter((l) => l.startsWith('hush: error'))).toEqual([]);

    // A fallback hush cannot dial is a usage error before anything is sent (exit 2, one error line and a hint).
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, relayFallbacks: ['http://relay.example.org'] }), { mode: 0o600 });
    const bad = await dave.run(['send', 'alice', 'not sent']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: config\.json relayFallbacks\[0\] is not a ws:\/\/ or wss:\/\/ URL: http:\/\/relay\.example\.org\nhush: hint: /);
    expect((await alice.run(['pull'])).stdout).not.toContain('not sent');
  });
});
