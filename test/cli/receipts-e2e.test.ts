/**
 * End-to-end encrypted receipts through two (three) real homes, the real binary and a real
 * relay process: sent -> delivered -> read in alice's history; --no-read-receipts and config
 * readReceipts:false stop at delivered; a read receipt queued by `history` (offline) after a
 * pull killed before printing goes out with the next pull; forged receipts (a third identity
 * naming alice's message id) and receipts for unknown ids are ignored with one stderr line.
 *
 * Receipts go only to contacts (src/client/receipts.ts): bob writes to alice first, so alice is
 * not a stranger to him. Both homes set `"receiptDelay": "0"` in config.json so receipts leave
 * as soon as they are queued; the random delay itself is tested in receipts-privacy.test.ts.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, makeUser, type RelayProc, startRelayProcess, type User } from '../integration/helpers.js';
import { encodeReceipt } from '../../src/client/receipts.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { fromHex } from '../../src/protocol/encoding.js';
import { jsonOf, newUser, outboxSize, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let mallory: User;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  for (const u of [alice, bob]) {
    const file = path.join(u.home, 'config.json');
    const cfg = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(file, JSON.stringify({ ...cfg, receiptDelay: '0' }));
  }
  // bob writes to alice: she is his contact, not a stranger, so he sends her receipts.
  const hello = await bob.run(['send', 'alice', 'hello alice']);
  expect(hello.exitCode, hello.stderr).toBe(0);
  mallory = makeUser('mallory');
  const c = await mallory.connect(relay.url);
  await c.register(mallory.bundle);
  await c.close();
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** alice sends `text` to bob; returns the message id (hex). */
async function aliceSends(text: string): Promise<string> {
  const r = await alice.run(['send', 'bob', text, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return String(jsonOf(r.stdout)[0]!.id);
}

/** The status of message `id` in alice's history (--json, through the CLI). */
async function statusAtAlice(id: string): Promise<string> {
  const r = await alice.run(['history', 'bob', '--json', '--limit', '1000']);
  expect(r.exitCode, r.stderr).toBe(0);
  const m = jsonOf(r.stdout).find((x) => x.id === id);
  expect(m, `message ${id} in alice's history`).toBeDefined();
  return String(m!.status);
}

async function alicePulls(): Promise<{ stdout: string; stderr: string }> {
  const r = await alice.run(['pull']);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

describe('receipts', () => {
  it('sent, then delivered and read once bob pulls and sees it; receipts are not messages in history', async () => {
    const id = await aliceSends('are you there?');
    expect(await statusAtAlice(id)).toBe('sent');
    const b = await bob.run(['pull']);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stdout).toContain('alice: are you there?');
    const a = await alicePulls();
    expect(a.stdout.trimEnd().split('\n')).toEqual([expect.stringContaining('bob: hello alice')]); // receipts print nothing
    expect(await statusAtAlice(id)).toBe('read');
    // Neither side shows a receipt as a message.
    const ah = jsonOf((await alice.run(['history', '--json'])).stdout);
    expect(ah.map((m) => m.body)).toEqual(['hello alice', 'are you there?']);
    const bh = jsonOf((await bob.run(['history', '--json'])).stdout);
    expect(bh.map((m) => [m.direction, m.status])).toEqual([
      ['out', 'sent'],
      ['in', 'read'],
    ]);
    // bob's hello: alice had written to him by the time she pulled it, so it got her receipts;
    // bob's pull applies them, prints nothing, and queues no receipt for a receipt.
    const again = await bob.run(['pull', '--json']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe('');
    expect(await outboxSize(bob.home)).toBe(0);
    const bh2 = jsonOf((await bob.run(['history', '--json'])).stdout);
    expect(bh2.map((m) => [m.direction, m.status])).toEqual([
      ['out', 'read'],
      ['in', 'read'],
    ]);
    // And alice's mailbox has nothing from bob's pull of her receipts.
    const none = await alice.run(['pull', '--json']);
    expect(none.exitCode).toBe(0);
    expect(none.stdout).toBe('');
    expect(await outboxSize(bob.home)).toBe(0);
  });

  it('--no-read-receipts and config readReceipts:false stop at delivered', async () => {
    const one = await aliceSends('first, read quietly');
    expect((await bob.run(['pull', '--no-read-receipts'])).exitCode).toBe(0);
    await alicePulls();
    expect(await statusAtAlice(one)).toBe('delivered');

    const cfgFile = path.join(bob.home, 'config.json');
    const cfg = JSON.parse(await fsp.readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, readReceipts: false }));
    try {
      const two = await aliceSends('second, config says no read receipts');
      const b = await bob.run(['pull']);
      expect(b.stdout).toContain('second, config says no read receipts');
      await alicePulls();
      expect(await statusAtAlice(two)).toBe('delivered');
      expect(await statusAtAlice(one)).toBe('delivered'); // and the first one was not re-read
    } finally {
      await fsp.writeFile(cfgFile, JSON.stringify(cfg));
    }
  });

  it('a pull killed before printing: history shows it and queues the read receipt offline; the next pull sends it', async () => {
    const id = await aliceSends('seen only in history');
    const crashed = await bob.run(['pull'], { env: { HUSH_TEST_CRASH: 'after-store' } });
    expect(crashed.exitCode).not.toBe(0);
    // Stored, delivered receipt committed with it (in the outbox), not shown yet.
    expect(await outboxSize(bob.home)).toBe(1);
    const h = await bob.run(['history', 'alice']);
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain('seen only in history');
    expect(await outboxSize(bob.home)).toBe(2); // + the read receipt, queued offline
    const again = await bob.run(['pull']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('seen only in history'); // a duplicate now, not shown twice
    expect(await outboxSize(bob.home)).toBe(0);
    await alicePulls();
    expect(await statusAtAlice(id)).toBe('read');
  });

  it("a forged receipt (a third identity naming alice's message) and one for an unknown id are ignored, one line", async () => {
    const id = await aliceSends('only bob may acknowledge this');
    // Receipts from a key that is not a contact change nothing and say nothing (PROTOCOL §5.7).
    const c0 = await mallory.connect(relay.url);
    try {
      const a = await c0.lookup({ name: 'alice' });
      await c0.send(
        a.signPk,
        sealEnvelope(mallory.id, a, { kind: 'receipt', id: randomBytes(16), time: Date.now(), body: encodeReceipt({ type: 'read', ids: [fromHex(id)] }) }, randomBytes),
      );
    } finally {
      await c0.close();
    }
    const r0 = await alicePulls();
    expect(r0.stdout).toBe('');
    expect(r0.stderr.split('\n').filter((l) => l.startsWith('hush: warning:'))).toEqual([]);
    expect(await statusAtAlice(id)).toBe('sent');
    const c = await mallory.connect(relay.url);
    try {
      const a = await c.lookup({ name: 'alice' });
      // mallory now becomes alice's contact with a real message (pinned on first use).
      await c.send(
        a.signPk,
        sealEnvelope(mallory.id, a, { kind: 'msg', id: randomBytes(16), time: Date.now(), body: new TextEncoder().encode('hi alice, mallory here') }, randomBytes),
      );
      const forge = (ids: Uint8Array[]): Uint8Array =>
        sealEnvelope(mallory.id, a, { kind: 'receipt', id: randomBytes(16), time: Date.now(), body: encodeReceipt({ type: 'read', ids }) }, randomBytes);
      await c.send(a.signPk, forge([fromHex(id)]));
      await c.send(a.signPk, forge([randomBytes(16)]));
      await c.send(a.signPk, forge([fromHex(id), randomBytes(16)]));
      // Malformed bodies: a truncated id, an unknown type, another version. Ignored, no crash.
      for (const body of [encodeReceipt({ type: 'read', ids: [fromHex(id)] }).slice(0, 10), Uint8Array.of(1, 9, 0, 1, ...fromHex(id)), Uint8Array.of(2, 2, 0, 1, ...fromHex(id))]) {
        await c.send(a.signPk, sealEnvelope(mallory.id, a, { kind: 'receipt', id: randomBytes(16), time: Date.now(), body }, randomBytes));
      }
    } finally {
      await c.close();
    }
    const r = await alicePulls();
    expect(r.stdout.trimEnd().split('\n')).toEqual([expect.stringContaining('mallory: hi alice, mallory here')]); // the receipts print nothing
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('hush: warning:'));
    expect(warnings).toEqual(['hush: warning: ignored a receipt from mallory that matches no message you sent to mallory']);
    expect(await statusAtAlice(id)).toBe('sent');
    // bob's real receipts still work afterwards.
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    await alicePulls();
    expect(await statusAtAlice(id)).toBe('read');
  });
});
