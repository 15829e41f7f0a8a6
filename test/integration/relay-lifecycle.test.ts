/**
 * The relay process over time: graceful shutdown, restart on the same data directory, and
 * what the data directory holds after a conversation (no plaintext, no sender identity).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openEnvelope } from '../../src/crypto/seal.js';
import { bytesEqual, fromUtf8, toB64, toHex } from '../../src/protocol/encoding.js';
import { anonymous, cleanupTmp, giveToken, makeUser, registerUsers, seal, startRelayProcess, tmpDir } from './helpers.js';

// Each test spawns real relay processes; give slow CI machines room (vitest's default is 5 s).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

afterAll(() => cleanupTmp());

describe('lifecycle', () => {
  it('--help prints usage with every flag and exits 0', () => {
    const bin = fileURLToPath(new URL('../../bin/hush-relay.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const flag of [
      '--host',
      '--port',
      '--data',
      '--url',
      '--max-frame',
      '--rate-conn',
      '--rate-identity',
      '--mailbox-count',
      '--mailbox-bytes',
      '--ttl',
      '--max-conns',
      '--auth-timeout',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    const bad = spawnSync(process.execPath, [bin, '--ttl', 'forever'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^hush-relay: error: --ttl "forever" is not a valid duration\nhush-relay: hint: /);
  });

  it('`hush relay --port 0 --data DIR` prints its url first and serves', async () => {
    const relay = await startRelayProcess({ viaCli: true });
    expect(relay.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const u = makeUser();
    const c = await u.connect(relay.url);
    await c.register(u.bundle);
    expect((await c.lookup({ name: u.name })).name).toBe(u.name);
    await c.close();
    expect(await relay.stop()).toBe(0);
  });

  it('shuts down on SIGTERM: clients see 1001, accepted mail is kept, exit 0', async () => {
    const relay = await startRelayProcess();
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const cb = await bob.connect(relay.url);
    const sent = await ca.send(bob.id.signPk, seal(alice, bob, 'before shutdown'));
    const closes = Promise.all([new Promise((r) => ca.once('close', r)), new Promise((r) => cb.once('close', r))]);
    expect(await relay.stop('SIGTERM')).toBe(0);
    expect(await closes).toEqual([
      { code: 1001, reason: 'SHUTTING_DOWN' },
      { code: 1001, reason: 'SHUTTING_DOWN' },
    ]);
    await expect(ca.ping()).rejects.toMatchObject({ code: 'RELAY_CLOSED' });
    expect(relay.log()).toMatch(/ stopped/);

    const again = await startRelayProcess({ dataDir: relay.dataDir });
    const cb2 = await bob.connect(again.url);
    expect((await cb2.pull()).items.map((i) => i.eid)).toEqual([sent.eid]);
    await cb2.close();
    expect(await again.stop('SIGINT')).toBe(0);
  });

  it('keeps names and mail across a restart on the same data directory', async () => {
    const dataDir = tmpDir();
    const first = await startRelayProcess({ dataDir });
    const alice = makeUser('alice-persist');
    const bob = makeUser('bob-persist');
    const cb = await bob.connect(first.url);
    await cb.register(bob.bundle);
    await cb.close();
    const ca = await alice.connect(first.url);
    const bobBundle = await ca.lookup({ name: 'bob-persist' });
    const texts = ['first', 'second', 'third'];
    for (const t of texts) await ca.send(bobBundle.signPk, seal(alice, bob, t));
    await ca.close();
    expect(await first.stop()).toBe(0);

    const second = await startRelayProcess({ dataDir });
    expect(second.url).not.toBe(''); // a new port: clients sign the new url
    const cb2 = await bob.connect(second.url);
    expect((await cb2.lookup({ name: 'bob-persist' })).created).toBe(bob.bundle.created);
    const { items } = await cb2.pull();
    const opened = items.map((i) => fromUtf8(openEnvelope(bob.id, i.env, (k) => (bytesEqual(k, alice.id.signPk) ? alice.id : undefined)).body));
    expect(opened).toEqual(texts);
    // The name is still bob's: another key cannot take it after the restart.
    const mallory = makeUser('bob-persist');
    const thief = await mallory.connect(second.url);
    await expect(thief.register(mallory.bundle)).rejects.toMatchObject({ code: 'NAME_TAKEN' });
    await expect(thief.lookup({ name: 'bob-persist' })).resolves.toMatchObject({ name: 'bob-persist' });
    await thief.close();
    await cb2.close();
    expect(await second.stop()).toBe(0);
  });

  it('stores no plaintext and no sender identity: a scan of the data directory after a conversation', async () => {
    const relay = await startRelayProcess();
    const alice = makeUser('alice-scan'); // the sender: authenticates, never registers
    const bob = makeUser('bob-scan');
    const cb = await bob.connect(relay.url);
    await cb.register(bob.bundle);
    const ca = await alice.connect(relay.url);
    const secrets = Array.from({ length: 6 }, (_, i) => `the eagle lands at midnight, take ${i} ${'%'.repeat(i * 40)}`);
    const target = await ca.lookup({ name: 'bob-scan' });
    for (const s of secrets) await ca.send(target.signPk, seal(alice, bob, s));
    const anon = await anonymous(relay.url);
    await anon.send(target.signPk, seal(alice, bob, 'typing', 'typing'), { ephemeral: true, token: await giveToken(relay.url, bob) });
    await anon.close();
    const { items } = await cb.pull();
    expect(items).toHaveLength(secrets.length);
    await cb.ack([items[0]!.eid]); // one fetched and deleted, the rest still waiting

    const needles: [string, Buffer][] = [];
    for (const s of secrets) needles.push([`plaintext ${s.slice(0, 30)}`, Buffer.from(s)]);
    needles.push(['plaintext fragment', Buffer.from('eagle lands')]);
    for (const [what, key] of [
      ['alice signPk', alice.id.signPk],
      ['alice boxPk', alice.id.boxPk],
    ] as const) {
      needles.push([`${what} raw`, Buffer.from(key)]);
      needles.push([`${what} base64`, Buffer.from(toB64(key))]);
      needles.push([`${what} hex`, Buffer.from(toHex(key))]);
      needles.push([`${what} raw prefix`, Buffer.from(key.subarray(0, 12))]);
    }
    const scan = (when: string): number => {
      const files = readdirSync(relay.dataDir)
        .map((f) => join(relay.dataDir, f))
        .filter((f) => statSync(f).isFile());
      expect(files.some((f) => f.endsWith('relay.sqlite'))).toBe(true);
      let bytes = 0;
      for (const f of files) {
        const data = readFileSync(f);
        bytes += data.length;
        for (const [what, needle] of needles) expect(data.includes(needle), `${what} found in ${f} (${when})`).toBe(false);
      }
      return bytes;
    };
    // The store really holds the conversation (so the scan means something): bob's key is there.
    const live = scan('running');
    expect(live).toBeGreaterThan(0);
    await ca.close();
    await cb.close();
    expect(await relay.stop()).toBe(0);
    scan('stopped');
    const db = readFileSync(join(relay.dataDir, 'relay.sqlite'));
    expect(db.includes(Buffer.from(bob.id.signPk))).toBe(true);
    expect(db.includes(Buffer.from(items[1]!.env.subarray(0, 64)))).toBe(true);
    expect(statSync(join(relay.dataDir, 'relay.sqlite')).mode & 0o077).toBe(0);
    expect(statSync(relay.dataDir).mode & 0o077).toBe(0);
  });
});
