/**
 * hush history through the real binary: two homes on a real relay, both directions, the human
 * columns, --json shape, --limit, --since (ISO and relative), an unknown name, bad options,
 * and control characters in a received body that must not reach the terminal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { jsonOf, newUser, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
/** The --json history of alice after the conversation below. */
let all: Record<string, unknown>[];

const HEX32 = /^[0-9a-f]{32}$/;
const HOSTILE = 'look \u001b[2J\u001b]0;pwned\u0007 \u009b31m C1\tTAB\nsecond line\r';

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  // alice -> bob, bob -> alice, alice -> bob, bob -> alice (hostile), in this order.
  const steps: [TestUser, string, string][] = [
    [alice, 'bob', 'one from alice'],
    [bob, 'alice', 'two from bob'],
    [alice, 'bob', 'three from alice'],
  ];
  for (const [u, to, text] of steps) {
    const s = await u.run(['send', to, text]);
    if (s.exitCode !== 0) throw new Error(`send failed: ${s.stderr}`);
    const p = await (u === alice ? bob : alice).run(['pull']);
    if (p.exitCode !== 0) throw new Error(`pull failed: ${p.stderr}`);
  }
  const s = await bob.run(['send', 'alice'], { input: HOSTILE });
  if (s.exitCode !== 0) throw new Error(`send failed: ${s.stderr}`);
  const p = await alice.run(['pull']);
  if (p.exitCode !== 0) throw new Error(`pull failed: ${p.stderr}`);
  const h = await alice.run(['history', '--json']);
  if (h.exitCode !== 0) throw new Error(`history failed: ${h.stderr}`);
  all = jsonOf(h.stdout);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

describe('hush history', () => {
  it('--json: one object per message, both directions, oldest first, stable fields', () => {
    expect(all).toHaveLength(4);
    for (const m of all) {
      expect(Object.keys(m).sort()).toEqual(['body', 'direction', 'id', 'peer', 'status', 'time']);
      expect(m.id).toMatch(HEX32);
      expect(m.peer).toBe('bob');
      expect(typeof m.time).toBe('number');
    }
    // Every message was pulled and printed by its recipient: read receipts (issue 5) made it 'read'.
    expect(all.map((m) => [m.direction, m.status, m.body])).toEqual([
      ['out', 'read', 'one from alice'],
      ['in', 'read', 'two from bob'],
      ['out', 'read', 'three from alice'],
      ['in', 'read', HOSTILE],
    ]);
    const times = all.map((m) => m.time as number);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('is the same conversation seen from the other side, with the same ids', async () => {
    const h = await bob.run(['history', 'alice', '--json']);
    expect(h.exitCode).toBe(0);
    const theirs = jsonOf(h.stdout);
    expect(theirs.map((m) => m.id)).toEqual(all.map((m) => m.id));
    expect(theirs.map((m) => m.direction)).toEqual(['in', 'out', 'in', 'out']);
    expect(theirs.every((m) => m.peer === 'alice')).toBe(true);
  });

  it('human output: time, arrow, peer, status for outgoing, body; control characters neutralised', async () => {
    const h = await alice.run(['history']);
    expect(h.exitCode).toBe(0);
    expect(h.stderr).toBe('');
    const lines = h.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}-> bob {2}read {7}one from alice$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}<- bob {13}two from bob$/);
    expect(lines[2]).toMatch(/-> bob {2}read {7}three from alice$/);
    // No escape, BEL, C1 or CR reaches the terminal; tab and newline survive; continuation indented.
    // eslint-disable-next-line no-control-regex
    expect(h.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(lines[3]).toMatch(/<- bob {13}look \ufffd\[2J\ufffd\]0;pwned\ufffd \ufffd31m C1\tTAB$/);
    expect(lines[4]).toBe(' '.repeat(lines[3]!.indexOf('look')) + 'second line\ufffd');
  });

  it('--limit N: the newest N, still oldest first', async () => {
    const h = await alice.run(['history', '--limit', '2', '--json']);
    expect(h.exitCode).toBe(0);
    expect(jsonOf(h.stdout).map((m) => m.id)).toEqual(all.slice(2).map((m) => m.id));
  });

  it('--since: ISO 8601 and relative durations', async () => {
    const third = all[2]!.time as number;
    const iso = await alice.run(['history', '--since', new Date(third).toISOString(), '--json']);
    expect(iso.exitCode).toBe(0);
    expect(jsonOf(iso.stdout).map((m) => m.id)).toEqual(all.filter((m) => (m.time as number) >= third).map((m) => m.id));

    const hour = await alice.run(['history', '--since', '1h', '--json']);
    expect(jsonOf(hour.stdout)).toHaveLength(4);

    const future = await alice.run(['history', '--since', new Date(Date.now() + 86_400_000).toISOString()]);
    expect(future).toMatchObject({ exitCode: 0, stdout: '', stderr: 'no messages\n' });
    const futureJson = await alice.run(['history', '--since', '2999-01-01', '--json']);
    expect(futureJson).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  it('bad --limit, bad --since and an unknown name are usage errors (exit 2), nothing on stdout', async () => {
    for (const args of [
      ['--limit', '0'],
      ['--limit', 'ten'],
      ['--limit', '-3'],
      ['--since', 'yesterday'],
      ['--since', '15x'],
      ['--since', '2026-13-45T99:99'],
    ]) {
      const r = await alice.run(['history', ...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^hush: error: (the limit|cannot read the time)/);
    }
    const r = await alice.run(['history', 'carol', '--json']);
    expect(r).toMatchObject({ exitCode: 2, stdout: '' });
    expect(r.stderr).toBe('hush: error: carol is not one of your contacts\nhush: hint: hush contacts lists them; a key is pinned when you first send to or hear from someone\n');
  });
});
