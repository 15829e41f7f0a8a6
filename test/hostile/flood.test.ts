/**
 * The flood of issue #13, through a real relay process and the real CLI: throwaway keys that
 * authenticate and send junk to carol, junk to keys nobody registered, junk typing pushes to
 * carol's `listen`, a burst of name claims, and then junk until carol's mailbox is full.
 *
 * What it shows (figures in docs/SECURITY.md, "Hostile figures"):
 * - mail and ephemerals to unregistered keys are refused (UNKNOWN_RECIPIENT), nothing stored;
 * - name claims from one address stop at --names-per-addr (REGISTER_LIMITED);
 * - junk typing is cut per (sender, recipient) pair (RATE_LIMITED past --ephemeral-rate);
 * - amid the junk, alice's (an honest contact's) message is accepted and shown by carol's listen;
 * - junk CAN still fill carol's per-mailbox quota, and then alice's next message is refused
 *   MAILBOX_FULL (exit 4): what the delivery tokens are for. It waits in alice's outbox, loses
 *   nothing, and goes out once carol has pulled;
 * - carol's pull of all that junk keeps her disk bounded: the quarantine keeps within its
 *   limits and hush.db stays far below the junk she received.
 *
 * The relay runs with an 8 MiB mailbox (--mailbox-bytes; the default is 64 MiB) and carol pulls
 * with small --quarantine-limits so the test takes seconds; the bounds scale with the flags.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { RelayClient } from '../../src/client/relay-client.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { utf8 } from '../../src/protocol/encoding.js';
import { jsonOf, newUser, outboxSize, spawnHush, type TestUser } from '../cli/messaging-helpers.js';
import { cleanupTmp, figure, makeUser, type RelayProc, startRelayProcess, type User } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const THROWAWAY = 50;
const MAILBOX_BYTES = 8 * 1024 * 1024;
const QUARANTINE = { count: 100, bytes: 2 * 1024 * 1024, perSender: 5, perSenderBytes: 512 * 1024 };
const QUARANTINE_SPEC = `count=${QUARANTINE.count},bytes=2m,per-sender=${QUARANTINE.perSender},per-sender-bytes=512k`;

let relay: RelayProc | undefined;
const clients: RelayClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  if (relay) expect(await relay.stop()).toBe(0);
  cleanupTmp();
});

/** Bytes of a home's store on disk (hush.db and its WAL). */
function dbBytes(home: string): number {
  return ['hush.db', 'hush.db-wal'].map((f) => join(home, f)).reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
}

describe('a flood of throwaway keys at one recipient (issue #13)', () => {
  it('refuses what needs no token, keeps an honest contact served until the mailbox quota, and keeps the recipient disk bounded', async () => {
    relay = await startRelayProcess({ args: ['--mailbox-bytes', String(MAILBOX_BYTES)] });
    const url = relay.url;
    const carol = await newUser('carol', url);
    const alice = await newUser('alice', url);
    // alice and carol know each other (pinned) before the flood
    expect((await alice.run(['send', 'carol', 'before the flood'])).exitCode).toBe(0);
    expect(jsonOf((await carol.run(['pull', '--json'])).stdout).map((e) => e.body)).toEqual(['before the flood']);

    const throwaway: User[] = Array.from({ length: THROWAWAY }, (_, i) => makeUser(`junk${i}`));
    for (const u of throwaway) clients.push(await u.connect(url));
    const carolBundle = await clients[0]!.lookup({ name: 'carol' });
    const junk = (from: User, bytes: number, kind: 'msg' | 'typing' = 'msg'): Uint8Array =>
      sealEnvelope(from.id, { signPk: carolBundle.signPk, boxPk: carolBundle.boxPk }, { kind, id: randomBytes(16), time: Date.now(), body: utf8('j'.repeat(bytes)) }, randomBytes);
    const codeOf = async (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'accepted',
        (e: { code?: string }) => e.code ?? 'error',
      );
    const tally = (codes: string[]): Record<string, number> => codes.reduce<Record<string, number>>((t, c) => ({ ...t, [c]: (t[c] ?? 0) + 1 }), {});

    // 1. Mail and typing to keys nobody registered: refused, nothing stored.
    const strangers = [makeUser(), makeUser(), makeUser()];
    const toStrangers = await Promise.all(
      strangers.flatMap((s) => [
        codeOf(clients[0]!.send(s.id.signPk, junk(throwaway[0]!, 100))),
        codeOf(clients[1]!.send(s.id.signPk, junk(throwaway[1]!, 0, 'typing'), { ephemeral: true })),
      ]),
    );
    expect(toStrangers).toEqual(Array(6).fill('UNKNOWN_RECIPIENT'));
    figure('flood: sends to 3 unregistered keys', JSON.stringify(tally(toStrangers)));

    // 2. 78 look-alike names claimed from one address (alice and carol already used 2 of 30).
    const claims = await Promise.all(
      Array.from({ length: 78 }, async (_, i) => {
        const u = makeUser(i % 2 ? `b0b${i}` : `bob-${i}`);
        const c = await u.connect(url);
        const code = await codeOf(c.register(u.bundle));
        await c.close();
        return code;
      }),
    );
    expect(tally(claims)).toEqual({ accepted: 28, REGISTER_LIMITED: 50 });
    figure('flood: 78 name claims from one address', JSON.stringify(tally(claims)));

    // 3. carol listens; every throwaway key sends 20 typing envelopes and one 20 KiB junk letter.
    const listen = spawnHush(carol.home, ['listen', '--json']);
    await listen.stderr.waitFor(/^hush: listening on ws:\/\/\S+ as carol$/);
    const typing = await Promise.all(
      throwaway.flatMap((u, i) => Array.from({ length: 20 }, () => codeOf(clients[i]!.send(carolBundle.signPk, junk(u, 0, 'typing'), { ephemeral: true })))),
    );
    const typingTally = tally(typing);
    figure('flood: typing pushes from 50 keys x 20 at carol', JSON.stringify(typingTally));
    expect(typingTally.RATE_LIMITED ?? 0).toBeGreaterThanOrEqual(THROWAWAY * 20 - THROWAWAY * 4); // at most a burst of 2 (+ refill) per pair
    expect(Object.keys(typingTally).sort()).toEqual(['RATE_LIMITED', 'accepted']);
    const letters = await Promise.all(throwaway.map((u, i) => codeOf(clients[i]!.send(carolBundle.signPk, junk(u, 20 * 1024)))));
    expect(letters).toEqual(Array(THROWAWAY).fill('accepted'));
    // amid the junk, alice's message is accepted and carol's listen shows it
    expect((await alice.run(['send', 'carol', 'amid the junk'])).exitCode).toBe(0);
    await listen.stdout.waitFor((l) => (JSON.parse(l) as { body?: string }).body === 'amid the junk');
    listen.kill('SIGINT');
    expect((await listen.done).exitCode).toBe(0);
    const heard = jsonOf(listen.stdout.text());
    expect(heard.filter((e) => e.event === 'message').map((e) => e.body)).toEqual(['amid the junk']);
    figure('flood: carol listen, junk letters quarantined', heard.filter((e) => e.event === 'quarantined').length);

    // 4. Junk until carol's mailbox is full (she is offline now): 60 KiB letters from every key.
    const filled: string[] = [];
    for (let round = 0; !filled.includes('MAILBOX_FULL'); round++) {
      expect(round).toBeLessThan(20);
      filled.push(...(await Promise.all(throwaway.map((u, i) => codeOf(clients[i]!.send(carolBundle.signPk, junk(u, 60 * 1024)))))));
    }
    // then the smallest junk, until not even a short message fits
    const small: string[] = [];
    for (let round = 0; !small.includes('MAILBOX_FULL'); round++) {
      expect(round).toBeLessThan(20);
      small.push(...(await Promise.all(throwaway.map((u, i) => codeOf(clients[i]!.send(carolBundle.signPk, junk(u, 0)))))));
    }
    filled.push(...small);
    figure('flood: junk letters until the 8 MiB mailbox is full', JSON.stringify(tally(filled)));
    // Not solved without delivery tokens: alice's message is refused too. It waits in her outbox.
    const refused = await alice.run(['send', 'carol', 'after the mailbox filled']);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/^hush: error: .*mailbox is full; 1 message kept in the outbox$/m);

    // 5. carol pulls everything with small quarantine bounds: her disk stays bounded.
    const before = dbBytes(carol.home);
    const pulled = await carol.run(['pull', '--json', '--quarantine-limits', QUARANTINE_SPEC]);
    expect(pulled.exitCode).toBe(0);
    const events = jsonOf(pulled.stdout);
    const quarantined = events.filter((e) => e.event === 'quarantined');
    const junkBytes = (filled.length - small.length) * 60 * 1024 + THROWAWAY * 20 * 1024;
    const after = dbBytes(carol.home);
    figure('flood: carol pull, envelopes quarantined (then trimmed to the bounds)', quarantined.length);
    figure('flood: carol hush.db bytes before -> after the pull', `${before} -> ${after} (junk received ${junkBytes})`);
    expect(quarantined.every((e) => e.reason === 'UNKNOWN_SENDER')).toBe(true);
    expect(after).toBeLessThan(QUARANTINE.bytes + 2 * 1024 * 1024);
    expect(after).toBeLessThan(junkBytes / 3);

    // 6. alice's refused message goes out with her next command and reaches carol: nothing lost.
    const flushed = await alice.run(['pull', '--json']);
    expect(flushed.exitCode).toBe(0);
    expect(jsonOf(flushed.stdout)).toContainEqual(expect.objectContaining({ event: 'sent', to: 'carol' }));
    expect(
      jsonOf((await carol.run(['pull', '--json'])).stdout)
        .filter((e) => e.event === 'message')
        .map((e) => e.body),
    ).toEqual(['after the mailbox filled']);
  });

  it('hush send to a contact the relay does not know: exit 4 saying so, the message kept in the outbox', async () => {
    // dave is pinned by erin from relay A; erin sends to dave through relay B, where nobody registered him.
    const [a, b] = await Promise.all([startRelayProcess(), startRelayProcess()]);
    try {
      const dave = await newUser('dave', a.url);
      const erin: TestUser = await newUser('erin', a.url);
      expect((await erin.run(['send', 'dave', 'via a'])).exitCode).toBe(0);
      expect(jsonOf((await dave.run(['pull', '--json'])).stdout).map((e) => e.body)).toEqual(['via a']); // pins erin
      const r = await erin.run(['send', 'dave', 'via b', '--relay', b.url]);
      expect(r.exitCode).toBe(4);
      expect(r.stderr).toMatch(/^hush: error: the relay does not know dave \(that key is not registered there\); 1 message kept in the outbox$/m);
      expect(r.stderr).toMatch(/^hush: hint: the recipient must run hush register on this relay first/m);
      // once dave registers on B, the next command sends it
      expect((await dave.run(['register', '--relay', b.url])).exitCode).toBe(0);
      expect((await erin.run(['pull', '--relay', b.url])).exitCode).toBe(0);
      const got = await dave.run(['pull', '--json', '--relay', b.url]);
      expect(jsonOf(got.stdout).map((e) => e.body)).toEqual(['via b']);
      // dave's receipts to erin, who is not registered on B, are refused there and dropped
      // (receipts are best effort), not kept for every later command to retry
      expect(got.stderr).not.toMatch(/outbox/);
      expect(await outboxSize(dave.home)).toBe(0);
    } finally {
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]);
    }
  });
});
