/**
 * Protocol v2 sessions through the real binary and a real relay process (issue #12): sends go
 * in a v2 session once the recipient has published prekeys (register does), the --json `sent`
 * event says which protocol, and the properties a stolen or copied home must not break:
 *
 * - forward secrecy: envelopes captured from relay.sqlite, with bob's keyring and passphrase
 *   stolen later, or with bob's whole home copied after he read them, open nothing (decrypted
 *   in the test with the stolen state, not only through dedupe);
 * - post-compromise security: once bob has answered with a ratchet key made after the copy,
 *   alice's next messages do not open with the copy;
 * - both with positive controls: the same helper opens the same envelopes with the state that
 *   should open them (bob's home before he read them, or as it is before he reads them), and a
 *   copy opens what is sent after it was taken (so "opens nothing" is not a helper that fails);
 * - replay: a captured envelope re-injected after it was read is not shown, even in a home
 *   whose history was wiped;
 * - --require-fs refuses v1 both ways; without it v1 is used and said once;
 * - signed-prekey rotation across a peer offline longer than its prekey lives;
 * - both starting at once: both homes then send on the same session (read from the headers);
 * - kill -9 during a pull of v2 messages;
 * - --ratchet-limits: a gap past max-skip is quarantined (TOO_MANY_SKIPPED) and moves no state.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEnvelopeV2, sealEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { concatBytes } from '../../src/protocol/encoding.js';
import { encodeInnerPrefix, parseInnerV2 } from '../../src/protocol/session-wire.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { cleanupTmp, makeUser, registerUsers, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { seededRandom } from '../seed.js';
import { makeHome } from './helpers.js';
import { historyOf, jsonOf, newUser, openStore, outboxSize, PASS, spawnHush, type TestUser } from './messaging-helpers.js';
import { bodies, captured as capturedAt, copyHome, keysOf, openedWith, steal } from './v2-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, carol, dave] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url), newUser('carol', relay.url), newUser('dave', relay.url)]);
}, 120_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** The envelopes waiting at the relay for `to` (test/cli/v2-helpers.ts, on this file's relay). */
const captured = (to: TestUser): Promise<Uint8Array[]> => capturedAt(relay, to);

describe('v2 sessions', () => {
  it('forward secrecy: captured envelopes open neither with the stolen keyring nor with the whole home copied after reading', async () => {
    const sent = jsonOf((await alice.run(['send', 'bob', '--json', 'the launch code is 0000'])).stdout);
    expect(sent).toMatchObject([{ event: 'sent', to: 'bob', protocol: 2 }]);
    const s2 = await alice.run(['send', 'bob', '--json', 'and the backup code is 1111']);
    expect(s2.stderr).toBe('sent 1 message to bob\n'); // v2 is the normal case: nothing said
    const envs = await captured(bob);
    expect(envs).toHaveLength(2);
    expect(envs.every((e) => e[0] === 2)).toBe(true);
    const unread = await copyHome(bob.home); // the positive control: bob's home before he read them
    const p = await bob.run(['pull', '--json']);
    expect(bodies(p.stdout)).toEqual(['the launch code is 0000', 'and the backup code is 1111']);

    const aliceKeys = await keysOf(alice);
    // Positive control: the same helper and envelopes do open with bob's home as it was before
    // he read them, so the zeros below are forward secrecy, not a helper that opens nothing.
    const u = await steal(unread);
    expect(openedWith(u, aliceKeys, envs)).toBe(2);
    u.store.close();
    // The keyring and passphrase alone: the prekey secrets are not in it, and no session.
    const keyringOnly = await makeHome('hush-v2-keyring-');
    fs.copyFileSync(path.join(bob.home, 'keyring.json'), path.join(keyringOnly, 'keyring.json'));
    const k = await steal(keyringOnly);
    expect(openedWith(k, aliceKeys, envs)).toBe(0);
    k.store.close();
    // The whole home, copied after bob read them: the keys that opened them are gone.
    const h = await steal(await copyHome(bob.home));
    expect(h.store.v2.sessionsOf(h.store.findContactBySignPk(aliceKeys.signPk)!.id)).toHaveLength(1);
    expect(openedWith(h, aliceKeys, envs)).toBe(0);
    // ... while that same copy opens what alice sends after it was taken, before bob reads it
    // (the copy is a working state: what it refuses above, it refuses for want of the keys).
    await alice.run(['send', 'bob', 'sent after the copy']);
    const later = await captured(bob);
    expect(later).toHaveLength(1);
    expect(openedWith(h, aliceKeys, later)).toBe(1);
    h.store.close();
    expect(bodies((await bob.run(['pull', '--json'])).stdout)).toEqual(['sent after the copy']);
  });

  it('replay: a captured envelope re-injected after it was read is not shown, even with the history wiped', async () => {
    await alice.run(['send', 'bob', 'pay 100 to carol']);
    const [env] = await captured(bob);
    expect((await bob.run(['pull'])).stdout).toContain('pay 100 to carol');
    const db = new Database(path.join(bob.home, 'hush.db'));
    db.exec('DELETE FROM messages');
    db.close();
    const mallory = makeUser('mallory');
    await registerUsers(relay.url, mallory);
    const c = await mallory.connect(relay.url);
    await c.send((await keysOf(bob)).signPk, env!);
    await c.close();
    const again = await bob.run(['pull', '--json']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe('');
    expect(await historyOf(bob.home)).toEqual([]);
    expect(await captured(bob)).toHaveLength(0); // acked: dropped, not kept
  });

  it('post-compromise security: after bob answers with a key made after the copy, alice’s new messages do not open with the copy', async () => {
    const copy = await copyHome(bob.home);
    const aliceKeys = await keysOf(alice);
    // Positive control: before bob answers, the copy opens what alice sends (the compromise window).
    await alice.run(['send', 'bob', 'while copied']);
    const early = await captured(bob);
    expect(early).toHaveLength(1);
    const c0 = await steal(copy);
    expect(openedWith(c0, aliceKeys, early)).toBe(1);
    c0.store.close();
    // bob -> alice, alice -> bob (alice's new ratchet key), bob -> alice (bob's new key, made after the copy)
    await bob.run(['send', 'alice', 'pong']);
    await alice.run(['pull']);
    await alice.run(['send', 'bob', 'ping']);
    await bob.run(['pull']);
    await bob.run(['send', 'alice', 'pong 2']);
    await alice.run(['pull']);
    await alice.run(['send', 'bob', 'after healing']);
    const envs = await captured(bob); // 'after healing' and alice's receipts for pong 2
    expect(envs.length).toBeGreaterThanOrEqual(1);
    const thief = await steal(copy);
    expect(openedWith(thief, aliceKeys, envs)).toBe(0);
    thief.store.close();
    // Positive control: the same envelopes open with bob's home as it is now (he has not read them).
    const now = await steal(bob.home);
    expect(openedWith(now, aliceKeys, envs)).toBe(envs.length);
    now.store.close();
    expect((await bob.run(['pull'])).stdout).toContain('after healing');
  });

  it('--ratchet-limits max-skip: a gap beyond it is quarantined with its reason and changes no state; the session goes on', async () => {
    /** bob's receiving side of his session with alice (what opening a message would move). */
    const receiving = async (): Promise<string> => {
      const store = await openStore(bob.home);
      try {
        const c = store.findContactBySignPk((await keysOf(alice)).signPk)!;
        return JSON.stringify(
          store.v2
            .sessionsOf(c.id)
            .map(({ state: s }) =>
              [s.rk, s.dhr, s.ckr, s.nr, s.pn, s.skipped.map((k) => [k.dhPk, k.n, k.mk])].map((x) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x)),
            ),
        );
      } finally {
        store.close();
      }
    };
    const lines = ['held 1', 'held 2', 'held 3', 'far'];
    expect((await alice.run(['send', 'bob', '--lines'], { input: lines.join('\n') + '\n' })).exitCode).toBe(0);
    // The relay loses all but the last (deleted from its database); 'far' is at least 3 keys ahead.
    const envs = await captured(bob);
    const db = new Database(path.join(relay.dataDir, 'relay.sqlite'));
    db.prepare('DELETE FROM mailbox WHERE recipient = ?').run((await keysOf(bob)).signPk);
    db.close();
    const mallory = makeUser(); // a name of its own (lookalikes of mallory are refused)
    await registerUsers(relay.url, mallory);
    const c = await mallory.connect(relay.url);
    try {
      await c.send((await keysOf(bob)).signPk, envs.at(-1)!);
      const before = await receiving();
      const p = await bob.run(['pull', '--json', '--ratchet-limits', 'max-skip=2']);
      expect(p.exitCode).toBe(0);
      expect(jsonOf(p.stdout)).toMatchObject([{ event: 'quarantined', reason: 'TOO_MANY_SKIPPED', from: null, authenticated: false }]);
      expect(p.stderr).toMatch(/1 message would skip more message keys of a v2 session than max-skip allows .* kept in quarantine, not shown; the session is unchanged/);
      expect(await receiving()).toBe(before);
      // The lost ones turn up after all (within the cap, each): they open, and so does what follows.
      for (const env of envs.slice(0, -1)) await c.send((await keysOf(bob)).signPk, env);
    } finally {
      await c.close();
    }
    expect(bodies((await bob.run(['pull', '--json', '--ratchet-limits', 'max-skip=2'])).stdout)).toEqual(['held 1', 'held 2', 'held 3']);
    await alice.run(['send', 'bob', 'after the gap']);
    expect(bodies((await bob.run(['pull', '--json', '--ratchet-limits', 'max-skip=2'])).stdout)).toEqual(['after the gap']);
    const bad = await bob.run(['pull', '--ratchet-limits', 'max-skip=5000']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: bad ratchet limits 'max-skip=5000': max-skip \(5000\) must not exceed per-session \(2000\)/);
    expect(bad.stderr).toMatch(/\nhush: hint: e\.g\. --ratchet-limits max-skip=1000,per-session=2000,total=20000,age=30d/);
  });

  it('--require-fs refuses v1 both ways; without it v1 is used and said once', async () => {
    // dave's prekeys vanish from the relay (as on a relay that predates them).
    const daveKeys = await keysOf(dave);
    const db = new Database(path.join(relay.dataDir, 'relay.sqlite'));
    for (const t of ['prekey_signed', 'prekey_opk', 'prekey_kem']) db.prepare(`DELETE FROM ${t} WHERE sign_pk = ?`).run(daveKeys.signPk);
    db.close();
    const refused = await alice.run(['send', 'dave', '--require-fs', 'secret']);
    expect(refused.exitCode).toBe(5);
    expect(refused.stderr).toMatch(/hush: error: refusing to send to dave without forward secrecy: dave has published no prekeys/);
    expect(refused.stderr).toMatch(/hush: hint: /);
    expect(await outboxSize(alice.home)).toBe(0);
    const v1 = await alice.run(['send', 'dave', '--json', 'plain one']);
    expect(v1.exitCode).toBe(0);
    expect(jsonOf(v1.stdout)).toMatchObject([{ protocol: 1 }]);
    expect(v1.stderr).toMatch(/hush: note: dave has published no prekeys: messages to dave use protocol v1 \(no forward secrecy/);
    const v1b = await alice.run(['send', 'dave', 'plain two']);
    expect(v1b.stderr).toBe('sent 1 message to dave\n'); // said once
    // dave refuses v1 mail: quarantined, not shown.
    const p = await dave.run(['pull', '--require-fs']);
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toBe('');
    expect(p.stderr).toMatch(/2 messages from alice sent with protocol v1 \(no forward secrecy\) kept in quarantine, not shown/);
  });

  it('a signed prekey expired while its owner was offline: v1, said so; v2 once the owner comes back', async () => {
    // carol rotates every 8 s: her published prekey expires 16 s after it was made.
    const cfgFile = path.join(carol.home, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, signedPrekeyRotation: '8s' }), { mode: 0o600 });
    // Her registered key rotates at her next pull once it is 8 s old: waited for (the tests
    // before this one may have taken less), else the pull keeps it and its 14-day expiry.
    const registered = await openStore(carol.home);
    const made = registered.v2.signedPrekeys()[0]!.createdAt;
    registered.close();
    while (Date.now() < made + 8050) await new Promise((r) => setTimeout(r, Math.min(1000, made + 8060 - Date.now())));
    await carol.run(['pull']); // rotates now (its 7-day key is replaced by an 8 s one) and publishes it
    const early = await bob.run(['send', 'carol', '--json', 'started before it expired']);
    expect(jsonOf(early.stdout)).toMatchObject([{ protocol: 2 }]);
    // carol stays offline past her published prekey's expiry (read from her store, then waited for).
    const store = await openStore(carol.home);
    const { createdAt, expires } = store.v2.signedPrekeys()[0]!;
    store.close();
    expect(expires - createdAt).toBe(16_000); // the 8 s key, not the registered one
    while (Date.now() <= expires + 50) await new Promise((r) => setTimeout(r, Math.min(1000, expires + 60 - Date.now())));
    const late = await alice.run(['send', 'carol', '--json', 'after it expired']);
    expect(jsonOf(late.stdout)).toMatchObject([{ protocol: 1 }]);
    expect(late.stderr).toMatch(/carol has (only expired|published no) prekeys/);
    // carol comes back: the message started with the old prekey opens (grace), a new one is published.
    const p = await carol.run(['pull', '--json']);
    expect(bodies(p.stdout)).toEqual(['started before it expired', 'after it expired']);
    const back = await alice.run(['send', 'carol', '--json', 'v2 again']);
    expect(jsonOf(back.stdout)).toMatchObject([{ protocol: 2 }]);
    expect(back.stderr).toMatch(/hush: note: messages to carol now go in a v2 session/);
    expect(bodies((await carol.run(['pull', '--json'])).stdout)).toEqual(['v2 again']);
  });

  let eve: TestUser;
  let frank: TestUser;

  it('both starting at once converge on one session', async () => {
    [eve, frank] = await Promise.all([newUser('eve', relay.url), newUser('frank', relay.url)]);
    await Promise.all([eve.run(['send', 'frank', 'hi frank']), frank.run(['send', 'eve', 'hi eve'])]);
    expect(bodies((await eve.run(['pull', '--json'])).stdout)).toEqual(['hi eve']);
    expect(bodies((await frank.run(['pull', '--json'])).stdout)).toEqual(['hi frank']);
    // Each home started a session: both are held on each side. The session a send went on is
    // the one whose sending ratchet key its header carries (the header read with the recipient's
    // stolen box key, the key in the sender's store).
    const sentOn = async (from: TestUser, to: TestUser): Promise<{ held: number; id: string; role: string }> => {
      const [env] = (await captured(to)).slice(-1);
      const r = await steal(to.home);
      const { dhPk } = parseInnerV2(openEnvelopeV2(r.identity.boxSk, env!)).header;
      r.store.close();
      const s = await steal(from.home);
      try {
        const all = s.store.v2.sessionsOf(s.store.findContactBySignPk((await keysOf(to)).signPk)!.id);
        const on = all.filter((x) => Buffer.from(x.state.dhsPk).equals(dhPk));
        expect(on).toHaveLength(1);
        return { held: all.length, id: Buffer.from(on[0]!.state.sessionId).toString('hex'), role: on[0]!.state.role };
      } finally {
        s.store.close();
      }
    };
    // Each side sends on a session the other has sent in (docs/PROTOCOL.md §9.6): which one
    // depends on whether the other's delivered receipt has arrived yet. Once both sessions are
    // heard on both sides, the same one wins on both.
    await eve.run(['send', 'frank', 'second']);
    expect((await sentOn(eve, frank)).held).toBe(2);
    await frank.run(['send', 'eve', 'second back']);
    expect((await sentOn(frank, eve)).held).toBe(2);
    expect(bodies((await frank.run(['pull', '--json'])).stdout)).toEqual(['second']);
    expect(bodies((await eve.run(['pull', '--json'])).stdout)).toEqual(['second back']);
    // From then on both send on one and the same session.
    await eve.run(['send', 'frank', 'third']);
    const byEve = await sentOn(eve, frank);
    await frank.run(['send', 'eve', 'third back']);
    const byFrank = await sentOn(frank, eve);
    expect(byEve).toEqual({ held: 2, id: byFrank.id, role: byEve.role });
    expect(byFrank.held).toBe(2);
    expect([byEve.role, byFrank.role].sort()).toEqual(['initiator', 'responder']);
    expect(bodies((await frank.run(['pull', '--json'])).stdout)).toEqual(['third']);
    expect(bodies((await eve.run(['pull', '--json'])).stdout)).toEqual(['third back']);
  });

  it('kill -9 during a pull of v2 messages loses nothing, shows nothing twice, and the session goes on', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i}`);
    expect((await eve.run(['send', 'frank', '--lines'], { input: lines.join('\n') + '\n' })).exitCode).toBe(0);
    const killed = await frank.run(['pull'], { env: { HUSH_TEST_CRASH: 'after-store' } });
    expect(killed.signal).toBe('SIGKILL'); // committed, not acked
    const after = await frank.run(['pull', '--json']); // the same envelopes again: their keys are used
    expect(after.exitCode).toBe(0);
    const stored = (await historyOf(frank.home)).filter((m) => m.direction === 'in').map((m) => m.body);
    expect(stored.filter((b) => b.startsWith('line '))).toEqual(lines);
    expect(bodies(after.stdout)).toEqual([]);
    // A kill -9 at a random moment of a pull (connecting, opening, committing or acking).
    const more = Array.from({ length: 80 }, (_, i) => `more ${i}`);
    expect((await eve.run(['send', 'frank', '--lines'], { input: more.join('\n') + '\n' })).exitCode).toBe(0);
    const child = spawnHush(frank.home, ['pull']);
    await new Promise((r) => setTimeout(r, 300 + seededRandom('v2-sessions/listen-kill').int(1500))); // HUSH_TEST_SEED replays it
    child.kill('SIGKILL');
    await child.done;
    await frank.run(['pull']);
    const all = (await historyOf(frank.home)).filter((m) => m.direction === 'in').map((m) => m.body);
    expect(all.filter((b) => b.startsWith('more '))).toEqual(more); // once each, in order
    await eve.run(['send', 'frank', 'still in session']);
    expect(bodies((await frank.run(['pull', '--json'])).stdout)).toEqual(['still in session']);
  });
  it('a pull of more than a page opens later pages ahead on a second thread (outer layers and ratchet): every message once, in order; tampered envelopes among them are quarantined', async () => {
    const [gina, hal] = await Promise.all([newUser('gina', relay.url), newUser('hal', relay.url)]);
    // One round trip first, so gina's messages are ordinary ones (not prekey messages): a page
    // the thread gets to first has its ratchet layer opened there too (src/client/ahead-ratchet.ts).
    await gina.run(['send', 'hal', 'hi']);
    await hal.run(['pull']);
    await hal.run(['send', 'gina', 'hey']);
    await gina.run(['pull']);
    const first = Array.from({ length: 520 }, (_, i) => `first ${i}`);
    const then = Array.from({ length: 400 }, (_, i) => `then ${i}`); // under the 1,000 a stranger may leave waiting
    expect((await gina.run(['send', 'hal', '--lines', '--json'], { input: first.join('\n') + '\n' })).stdout).toContain('"protocol":2');
    // In the second page: a copy of a waiting envelope with one byte of its outer box flipped,
    // and a well-sealed envelope whose ratchet layer claims the index of gina's next message
    // (under her current ratchet key) but does not authenticate.
    const waiting = await captured(hal);
    const bad = new Uint8Array(waiting[0]!);
    bad[bad.length - 1]! ^= 1;
    const halKeys = await unlock(hushPaths(hal.home), { env: { HUSH_PASSPHRASE: PASS } });
    const last = parseInnerV2(openEnvelopeV2(halKeys.identity.boxSk, waiting[waiting.length - 1]!));
    expect(last.type).toBe('message');
    const forgedInner = concatBytes(encodeInnerPrefix(last.senderSignPk, { ...last.header, n: last.header.n + 1 }), last.ciphertext);
    const forged = sealEnvelopeV2(halKeys.identity.boxPk, forgedInner, randomBytes);
    const mallory = makeUser(); // a name of its own (lookalikes of mallory are refused)
    await registerUsers(relay.url, mallory);
    const c = await mallory.connect(relay.url);
    await c.send(halKeys.identity.signPk, bad);
    await c.send(halKeys.identity.signPk, forged);
    await c.close();
    expect((await gina.run(['send', 'hal', '--lines'], { input: then.join('\n') + '\n' })).exitCode).toBe(0);
    const r = await hal.run(['pull', '--json']);
    expect(r.exitCode).toBe(0);
    expect(bodies(r.stdout)).toEqual([...first, ...then]);
    expect(
      jsonOf(r.stdout)
        .filter((e) => e.event === 'quarantined')
        .map((e) => e.reason),
    ).toEqual(['TAMPERED', 'TAMPERED']);
    expect(await captured(hal)).toHaveLength(0);
    // The session went on: the forgery moved nothing.
    await gina.run(['send', 'hal', 'after the pull']);
    expect(bodies((await hal.run(['pull', '--json'])).stdout)).toEqual(['after the pull']);
  });
});
