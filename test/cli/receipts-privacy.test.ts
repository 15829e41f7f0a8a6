/**
 * Receipts that leak less (issue #13; docs/PROTOCOL.md §5.6), through real homes, the real
 * binary and a real relay process:
 * - a stranger (a contact whose pin came from ITS first message, never written to, never
 *   verified) gets no delivered and no read receipt; once bob writes to it, or verifies it,
 *   what arrives from then on gets them;
 * - receipts wait in the outbox until their random "not before" time: a one-shot pull leaves
 *   them there (nothing reaches the sender), a later `listen` sends them once due;
 * - --no-delivery-receipts and config "deliveryReceipts": false stop delivered receipts;
 * - a bad --receipt-delay is exit 2 with one error line and a hint.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { type Child, jsonOf, newUser, outboxSize, spawnHush, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
const children: Child[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => newUser(n, relay.url)))) as [TestUser, TestUser, TestUser, TestUser];
  // bob writes to alice: she is his contact (he sends her receipts); alice pins bob by sending.
  expect((await bob.run(['send', 'alice', 'hello alice'])).exitCode).toBe(0);
  expect((await alice.run(['send', 'bob', 'hello bob'])).exitCode).toBe(0);
  expect((await alice.run(['pull'])).exitCode).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.done));
  await relay?.stop();
  cleanupTmp();
});

/** `from` sends `text` to `to`; the message id (hex). */
async function sends(from: TestUser, to: string, text: string): Promise<string> {
  const r = await from.run(['send', to, text, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return String(jsonOf(r.stdout)[0]!.id);
}

/** The status of message `id` in `u`'s history, after `u` pulled what waits (receipts). */
async function statusAfterPull(u: TestUser, peer: string, id: string): Promise<string> {
  const p = await u.run(['pull', '--receipt-delay', '0']);
  expect(p.exitCode, p.stderr).toBe(0);
  const h = await u.run(['history', peer, '--json', '--limit', '1000']);
  expect(h.exitCode, h.stderr).toBe(0);
  const m = jsonOf(h.stdout).find((x) => x.id === id);
  expect(m, `message ${id} in ${u.name}'s history`).toBeDefined();
  return String(m!.status);
}

/** Merges `fields` into `u`'s config.json. */
async function setConfig(u: TestUser, fields: Record<string, unknown>): Promise<void> {
  const file = path.join(u.home, 'config.json');
  const cfg = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  await fsp.writeFile(file, JSON.stringify({ ...cfg, ...fields }));
}

async function bobPulls(...flags: string[]): Promise<string> {
  const r = await bob.run(['pull', ...flags]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout;
}

describe('receipts go to contacts only', () => {
  it('a stranger gets no delivered or read receipt; once erin writes to it, it does', async () => {
    const erin = await newUser('erin', relay.url);
    const pulls = async (...flags: string[]): Promise<string> => {
      const r = await erin.run(['pull', ...flags]);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout;
    };
    const first = await sends(carol, 'erin', 'hi erin, you do not know me');
    expect(await pulls('--receipt-delay', '0')).toContain('carol: hi erin, you do not know me');
    expect(await outboxSize(erin.home)).toBe(0); // nothing queued for carol, nothing waiting
    expect(await statusAfterPull(carol, 'erin', first)).toBe('sent');

    // erin replies: carol is her contact now. The reply tells carol that erin got her mail
    // anyway, so it also queues the receipts for the earlier message, with the delay (1 s here).
    await setConfig(erin, { receiptDelay: '1' });
    expect((await erin.run(['send', 'carol', 'who are you?'])).exitCode).toBe(0);
    await setConfig(erin, { receiptDelay: '0' });
    expect(await outboxSize(erin.home)).toBe(2); // delivered + read for `first`: no erin process runs, they wait
    expect(await statusAfterPull(carol, 'erin', first)).toBe('sent');

    const second = await sends(carol, 'erin', 'carol, from the meetup');
    expect(await pulls('--receipt-delay', '0')).toContain('carol: carol, from the meetup');
    // Any later command sends what is due (no time assertion: pull until the outbox is empty).
    while ((await outboxSize(erin.home)) > 0) await pulls();
    expect(await statusAfterPull(carol, 'erin', second)).toBe('read');
    expect(await statusAfterPull(carol, 'erin', first)).toBe('read');
  });

  it('a stranger bob verifies (hush trust --fingerprint) gets receipts from then on', async () => {
    const first = await sends(dave, 'bob', 'dave here');
    expect(await bobPulls('--receipt-delay', '0')).toContain('dave: dave here');
    expect(await statusAfterPull(dave, 'bob', first)).toBe('sent');
    const fp = String(jsonOf((await dave.run(['whoami', '--json'])).stdout)[0]!.fingerprint);
    const t = await bob.run(['trust', 'dave', '--fingerprint', fp]);
    expect(t.exitCode, t.stderr).toBe(0);
    const second = await sends(dave, 'bob', 'dave again');
    expect(await bobPulls('--receipt-delay', '0')).toContain('dave: dave again');
    expect(await statusAfterPull(dave, 'bob', second)).toBe('read');
  });
});

describe('receipts wait for a random delay', () => {
  it('a pull leaves them in the outbox (the sender sees nothing); listen sends them once due', async () => {
    const id = await sends(alice, 'bob', 'ping with a delay');
    expect(await bobPulls('--receipt-delay', '2-3')).toContain('alice: ping with a delay');
    // delivered + read, both waiting: bob's pull has exited, nothing of his runs now.
    expect(await outboxSize(bob.home)).toBe(2);
    expect(await statusAfterPull(alice, 'bob', id)).toBe('sent');

    const listen = spawnHush(bob.home, ['listen', '--json', '--receipt-delay', '2-3']);
    children.push(listen);
    await listen.stderr.waitFor(/listening on/);
    // While listening, a new message: printed at once, its receipts wait their turn too.
    const id2 = await sends(alice, 'bob', 'and one while you listen');
    await listen.stdout.waitFor(/and one while you listen/);
    // Wait (no time assertion) until every receipt has left bob's outbox.
    while ((await outboxSize(bob.home)) > 0) await new Promise((r) => setTimeout(r, 500));
    expect(await statusAfterPull(alice, 'bob', id)).toBe('read');
    expect(await statusAfterPull(alice, 'bob', id2)).toBe('read');
    listen.kill('SIGTERM');
    expect((await listen.done).exitCode).toBe(0);
  });

  it('a bad --receipt-delay is refused before anything runs (exit 2, error and hint)', async () => {
    const r = await bob.run(['pull', '--receipt-delay', '9-3']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l !== '')).toEqual([
      "hush: error: bad receipt delay '9-3': MIN is above MAX",
      'hush: hint: e.g. --receipt-delay 5-60 (seconds; units ms, s, m; at most 1h), or 0 to send receipts at once',
    ]);
  });
});

describe('delivered receipts can be turned off', () => {
  it('--no-delivery-receipts and config deliveryReceipts:false send none', async () => {
    const held = await outboxSize(bob.home);
    const one = await sends(alice, 'bob', 'no receipts at all');
    await bobPulls('--no-delivery-receipts', '--no-read-receipts', '--receipt-delay', '0');
    expect(await outboxSize(bob.home)).toBe(held);
    expect(await statusAfterPull(alice, 'bob', one)).toBe('sent');

    await setConfig(bob, { deliveryReceipts: false });
    try {
      const two = await sends(alice, 'bob', 'config says no delivered receipts');
      await bobPulls('--no-read-receipts', '--receipt-delay', '0');
      expect(await outboxSize(bob.home)).toBe(held);
      expect(await statusAfterPull(alice, 'bob', two)).toBe('sent');
    } finally {
      await setConfig(bob, { deliveryReceipts: true });
    }

    // Read receipts alone: exactly one more receipt queued (held an hour, so it is still there).
    await sends(alice, 'bob', 'only a read receipt');
    await bobPulls('--no-delivery-receipts', '--receipt-delay', '60m');
    expect(await outboxSize(bob.home)).toBe(held + 1);
  });
});

describe('receipts coalesce', () => {
  it('in listen, a second batch from the same sender joins the receipts still waiting: one delivered and one read envelope', async () => {
    const before = await outboxSize(bob.home);
    const listen = spawnHush(bob.home, ['listen', '--json', '--receipt-delay', '40-50']);
    children.push(listen);
    await listen.stderr.waitFor(/listening on/);
    await sends(alice, 'bob', 'first of two batches');
    await listen.stdout.waitFor(/first of two batches/);
    await sends(alice, 'bob', 'second of two batches');
    await listen.stdout.waitFor(/second of two batches/);
    // Two batches, each with a delivered and a read receipt: 2 envelopes waiting, not 4.
    let waiting = (await outboxSize(bob.home)) - before;
    while (waiting < 2) waiting = (await outboxSize(bob.home)) - before; // the read receipt follows the print
    expect(waiting).toBe(2);
    listen.kill('SIGTERM');
    expect((await listen.done).exitCode).toBe(0);
    expect((await outboxSize(bob.home)) - before).toBe(2); // still waiting for their time
  });
});
