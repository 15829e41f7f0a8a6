/**
 * Groups (#14) through the real binary, four real homes and one real relay: create, send,
 * reply, add (the newcomer sees nothing from before), remove (nothing reaches the removed member
 * afterwards), a removed member's forged post quarantined, leave, concurrent add/remove
 * converging, receipts per member, a change after a missed one (EPOCH_GAP) and its recovery, an offline member, the member cap (flag and config key), and a send killed mid fan-out (nobody gets a
 * message twice or misses it after the next run).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { jsonOf, newUser, openStore, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => newUser(n, relay.url)))) as [TestUser, TestUser, TestUser, TestUser];
  // alice pins everyone (members must be pinned contacts).
  for (const u of [bob, carol, dave]) expect((await alice.run(['send', u.name, 'hi'])).exitCode).toBe(0);
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const posts = async (u: TestUser): Promise<string[]> => {
  const r = await u.run(['pull', '--json']);
  expect(r.exitCode).toBe(0);
  return jsonOf(r.stdout)
    .filter((e) => e.event === 'message' && e.group !== undefined)
    .map((e) => `${String(e.from)}: ${String(e.body)}`);
};

const members = async (u: TestUser): Promise<string[]> => {
  const r = await u.run(['group', 'show', 'team', '--json']);
  expect(r.exitCode).toBe(0);
  return jsonOf(r.stdout)
    .map((e) => String(e.fingerprint))
    .sort();
};

describe('groups', () => {
  it('create, send, reply: every member sees every post once, as @team NAME: text', async () => {
    const c = await alice.run(['group', 'create', 'team', 'bob', 'carol']);
    expect(c.exitCode).toBe(0);
    expect(c.stderr).toContain('created @team with bob, carol (epoch 1; told 2 members)');
    const b = await bob.run(['pull']);
    expect(b.stdout).toMatch(/@team alice created the group/);
    await carol.run(['pull']);

    const s = await alice.run(['send', '@team', 'standup', 'at', '10', '--json']);
    expect(s.exitCode).toBe(0);
    // Each copy goes the member's pairwise way: v2 now that bob and carol published prekeys (at their pull).
    expect(s.stderr).toMatch(/^(hush: note: messages to (bob|carol) now go in a v2 session \(forward secrecy\)\n)*sent 1 message to @team\n$/);
    expect(jsonOf(s.stdout)).toEqual([{ event: 'sent', group: 'team', id: expect.stringMatching(/^[0-9a-f]{32}$/), epoch: 1, to: ['bob', 'carol'], excluded: [] }]);
    const bp = await bob.run(['pull']);
    expect(bp.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}@team alice: standup at 10$/m);
    expect(await posts(carol)).toEqual(['alice: standup at 10']);

    // bob replies: he had never written to carol; her key comes from the relay, checked against the member list.
    const r = await bob.run(['send', '@team', '--lines'], { input: 'ok\nsee you\n' });
    expect(r.exitCode).toBe(0);
    expect(await posts(alice)).toEqual(['bob: ok', 'bob: see you']);
    expect(await posts(carol)).toEqual(['bob: ok', 'bob: see you']);
    expect(await posts(carol)).toEqual([]); // nothing twice

    const h = await carol.run(['history', '@team', '--json']);
    expect(jsonOf(h.stdout).map((e) => `${String(e.direction)} ${String(e.from)}: ${String(e.body)}`)).toEqual(['in alice: standup at 10', 'in bob: ok', 'in bob: see you']);
  });

  it('add: the newcomer gets what follows, nothing from before; everyone sees who added whom', async () => {
    const a = await alice.run(['group', 'add', 'team', 'dave']);
    expect(a.exitCode).toBe(0);
    const [dp, bp] = await Promise.all([dave.run(['pull']), bob.run(['pull']), carol.run(['pull'])]);
    expect(dp!.stdout).toMatch(/@team alice added dave/);
    expect(bp!.stdout).toMatch(/@team alice added dave/);
    expect((await dave.run(['send', '@team', 'hello from dave'])).exitCode).toBe(0);
    expect(await Promise.all([alice, bob, carol].map(posts))).toEqual([['dave: hello from dave'], ['dave: hello from dave'], ['dave: hello from dave']]);
    const h = await dave.run(['history', '@team', '--json']);
    expect(jsonOf(h.stdout).map((e) => e.body)).toEqual(['hello from dave']);
    const show = jsonOf((await bob.run(['group', 'show', 'team', '--json'])).stdout);
    expect(show.find((m) => m.name === 'dave')).toMatchObject({ addedBy: 'alice', trust: 'unverified' });
    expect(show.find((m) => m.name === 'bob')).toMatchObject({ you: true, addedBy: 'alice' });
  });

  it('remove: the removed member learns it and gets nothing after; her forged post is quarantined, changing nothing', async () => {
    expect((await alice.run(['group', 'remove', 'team', 'carol'])).exitCode).toBe(0);
    expect((await alice.run(['send', '@team', 'after carol left'])).exitCode).toBe(0);
    const cp = await carol.run(['pull']);
    expect(cp.stdout).toMatch(/@team alice removed carol/);
    expect(cp.stdout).not.toContain('after carol left');
    const refused = await carol.run(['send', '@team', 'let me in']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/^hush: error: you are no longer a member of team\n/);
    expect(await Promise.all([bob, dave].map(posts))).toEqual([['alice: after carol left'], ['alice: after carol left']]);

    // A modified client: carol forgets her removal locally and posts anyway.
    const st = await openStore(carol.home);
    const g = st.groups.byLabel('team')!;
    st.groups.update({ ...g, left: false, log: g.log.slice(0, -1) });
    st.close();
    const forged = await carol.run(['send', '@team', 'forged']);
    expect(forged.exitCode).toBe(0);
    const back = await openStore(carol.home); // carol's client is honest again: she knows she was removed
    back.groups.update(g);
    back.close();
    const bp = await bob.run(['pull', '--json']);
    const ev = jsonOf(bp.stdout);
    expect(ev.filter((e) => e.event === 'message')).toEqual([]);
    expect(ev).toContainEqual(expect.objectContaining({ event: 'quarantined', reason: 'NOT_A_MEMBER', claimedName: 'carol', authenticated: true }));
    expect(bp.stderr).toContain('NOT_A_MEMBER');
    expect(jsonOf((await bob.run(['history', '@team', '--json'])).stdout).map((e) => e.body)).not.toContain('forged');
    await Promise.all([alice.run(['pull']), dave.run(['pull'])]);
  });

  it('concurrent add and remove at one epoch converge on every member', async () => {
    // alice re-adds carol while dave removes bob, neither having seen the other.
    const [x, y] = await Promise.all([alice.run(['group', 'add', 'team', 'carol']), dave.run(['group', 'remove', 'team', 'bob'])]);
    expect([x.exitCode, y.exitCode]).toEqual([0, 0]);
    await Promise.all([alice, bob, carol, dave].map((u) => u.run(['pull'])));
    // alice's pull saw dave's removal, which carol (added at the same epoch) never got: alice re-announces it.
    await Promise.all([carol, dave].map((u) => u.run(['pull'])));
    const views = await Promise.all([alice, carol, dave].map(members));
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    expect(views[0]).toHaveLength(3); // alice, carol, dave
    const list = jsonOf((await bob.run(['group', 'list', '--json'])).stdout);
    expect(list).toEqual([expect.objectContaining({ group: 'team', left: true })]);
  });

  it('leave, an offline member, and a send killed mid fan-out: each member gets each post exactly once', async () => {
    expect((await dave.run(['group', 'leave', 'team'])).exitCode).toBe(0);
    await Promise.all([alice.run(['pull']), carol.run(['pull'])]);
    expect((await members(alice)).length).toBe(2);
    // Re-add bob and dave so the fan-out has three copies; dave stays offline (does not pull).
    expect((await alice.run(['group', 'add', 'team', 'bob', 'dave'])).exitCode).toBe(0);
    await Promise.all([bob.run(['pull']), carol.run(['pull'])]);
    const killed = await alice.run(['send', '@team', 'once'], { env: { HUSH_TEST_CRASH: 'mid-fanout' } });
    expect(killed.signal).toBe('SIGKILL');
    const again = await alice.run(['pull']); // the rest of the outbox goes out
    expect(again.exitCode).toBe(0);
    expect(await Promise.all([bob, carol].map(posts))).toEqual([['alice: once'], ['alice: once']]);
    const dp = await dave.run(['pull']);
    expect(dp.stdout).toMatch(/@team alice added bob, dave/);
    expect(dp.stdout.match(/alice: once/g)).toHaveLength(1);
    expect(await posts(bob)).toEqual([]);
  });

  it('a change for an epoch after one this home missed is quarantined EPOCH_GAP, changes nothing; leave and re-add recovers', async () => {
    const view = async (u: TestUser, g: string): Promise<{ epoch: unknown; members: string[] }> => {
      const l = jsonOf((await u.run(['group', 'list', '--json'])).stdout).find((e) => e.group === g)!;
      return { epoch: l.epoch, members: (l.members as string[]).slice().sort() };
    };
    expect((await alice.run(['group', 'create', 'gap', 'bob', 'carol'])).exitCode).toBe(0);
    await Promise.all([bob.run(['pull']), carol.run(['pull'])]);
    // alice's add of dave reaches bob, then alice dies: carol's copy waits in alice's outbox.
    expect((await alice.run(['group', 'add', 'gap', 'dave'], { env: { HUSH_TEST_CRASH: 'mid-fanout' } })).signal).toBe('SIGKILL');
    expect((await bob.run(['pull'])).stdout).toMatch(/@gap alice added dave/);
    expect((await bob.run(['group', 'remove', 'gap', 'dave'])).exitCode).toBe(0); // epoch 3, built on 2
    const before = await view(carol, 'gap');
    const cp = await carol.run(['pull', '--json']);
    expect(cp.exitCode).toBe(0);
    expect(jsonOf(cp.stdout)).toContainEqual(expect.objectContaining({ event: 'quarantined', reason: 'EPOCH_GAP', group: 'gap', claimedName: 'bob', authenticated: true }));
    expect(cp.stderr).toContain('hush: warning: 1 message from bob changing @gap at an epoch after a change this home never got (EPOCH_GAP)');
    expect(cp.stderr).toContain('hush group leave gap and have a member add you again');
    expect(await view(carol, 'gap')).toEqual(before); // nothing changed: still epoch 1
    expect(before.epoch).toBe(1);
    // The missed change arrives (alice's next command flushes her outbox); bob's is not retried.
    await alice.run(['pull']);
    await carol.run(['pull']);
    const behind = await view(carol, 'gap');
    expect(behind.epoch).toBe(2);
    expect(behind.members).toContain('dave'); // carol lags: bob removed dave at epoch 3
    // The documented recovery: carol leaves, alice adds her again: her new base is alice's view.
    expect((await carol.run(['group', 'leave', 'gap'])).exitCode).toBe(0);
    await Promise.all([alice.run(['pull']), bob.run(['pull'])]);
    expect((await alice.run(['group', 'add', 'gap', 'carol'])).exitCode).toBe(0);
    await Promise.all([carol.run(['pull']), bob.run(['pull'])]);
    const [a, b, c] = await Promise.all([alice, bob, carol].map((u) => view(u, 'gap')));
    expect(c!.members).toEqual(a!.members);
    expect(b!.members).toEqual(a!.members);
    expect(a!.members).not.toContain('dave');
  });

  it('receipts per member: history @NAME counts them, --json lists each member; only contacts send them', async () => {
    const erin = await newUser('erin', relay.url); // alice writes to erin; erin never writes back: no receipts from her
    expect((await alice.run(['send', 'erin', 'hi'])).exitCode).toBe(0);
    expect((await alice.run(['group', 'create', 'rc', 'bob', 'dave', 'erin'])).exitCode).toBe(0);
    await Promise.all([bob, dave, erin].map((u) => u.run(['pull'])));
    expect((await alice.run(['send', '@rc', 'ping'])).exitCode).toBe(0);
    const sent = jsonOf((await alice.run(['history', '@rc', '--json'])).stdout);
    expect(sent).toEqual([
      expect.objectContaining({
        body: 'ping',
        direction: 'out',
        receipts: [
          { name: 'bob', status: 'sent' },
          { name: 'dave', status: 'sent' },
          { name: 'erin', status: 'sent' },
        ],
      }),
    ]);
    // bob reads it (pull prints it), dave's client stores it without read receipts, erin is a stranger to alice's copy.
    await Promise.all([bob.run(['pull']), dave.run(['pull', '--no-read-receipts']), erin.run(['pull'])]);
    const ap = await alice.run(['pull']);
    expect(ap.exitCode).toBe(0);
    expect(ap.stderr).not.toContain('matches no message');
    const h = await alice.run(['history', '@rc']);
    expect(h.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}-> @rc {2}✓ 2\/3 delivered, 1\/3 read {2}alice: ping$/m); // plain text off a TTY
    expect(h.stdout).not.toContain('\u001b[');
    expect(jsonOf((await alice.run(['history', '@rc', '--json'])).stdout)[0]!.receipts).toEqual([
      { name: 'bob', status: 'read' },
      { name: 'dave', status: 'delivered' },
      { name: 'erin', status: 'sent' },
    ]);
    // The members' side: shown is read, whether or not a read receipt went (dave turned them off).
    const [bh, dh] = await Promise.all([bob, dave].map((u) => u.run(['history', '@rc', '--json'])));
    expect([bh, dh].map((r) => jsonOf(r!.stdout)[0])).toEqual([
      expect.objectContaining({ direction: 'in', status: 'read' }),
      expect.objectContaining({ direction: 'in', status: 'read' }),
    ]);
  });

  it('the member cap refuses a bigger group (exit 2) and sends nothing', async () => {
    const r = await alice.run(['group', 'create', 'big', 'bob', 'carol', '--max-members', '2']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: a group of 3 members is over the member cap of 2 \(you included\)\nhush: hint: /);
    expect(jsonOf((await alice.run(['group', 'list', '--json'])).stdout).map((g) => g.group)).toEqual(['team', 'gap', 'rc']);

    // The cap as a config key: maxGroupMembers in config.json, the flag winning; a bad value is exit 2.
    const file = path.join(alice.home, 'config.json');
    const cfg = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(file, JSON.stringify({ ...cfg, maxGroupMembers: 2 }), { mode: 0o600 });
    const byConfig = await alice.run(['group', 'create', 'big', 'bob', 'carol']);
    expect(byConfig.exitCode).toBe(2);
    expect(byConfig.stderr).toMatch(/^hush: error: a group of 3 members is over the member cap of 2 \(you included\)\n/);
    await fsp.writeFile(file, JSON.stringify({ ...cfg, maxGroupMembers: 1 }), { mode: 0o600 });
    const bad = await alice.run(['group', 'add', 'team', 'bob']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: maxGroupMembers in config.json must be a whole number from 2 to 1000, not '1'\nhush: hint: fix maxGroupMembers in config.json/);
    const flagWins = await alice.run(['group', 'create', 'big', 'bob', '--max-members', '3']);
    expect(flagWins.exitCode).toBe(0);
    await fsp.writeFile(file, JSON.stringify(cfg), { mode: 0o600 });
    expect(jsonOf((await alice.run(['group', 'list', '--json'])).stdout).map((g) => g.group)).toEqual(['team', 'gap', 'rc', 'big']);

    const u = await alice.run(['send', '@nope', 'x']);
    expect(u.exitCode).toBe(2);
    expect(u.stderr).toMatch(/^hush: error: you have no group named nope\n/);
  });
});
