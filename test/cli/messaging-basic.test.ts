/**
 * Messaging through the real binary and a real relay process: two homes talking both ways,
 * stdin (whole stream, --lines, streamed --lines), the --json shapes, and the bad input of
 * issue 4 (unknown recipient, empty, too large, binary, no relay, relay unreachable).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { hush, makeHome } from './helpers.js';
import { ENV, historyOf, jsonOf, newUser, outboxSize, spawnHush, type TestUser, userIn } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const HEX32 = /^[0-9a-f]{32}$/;
const LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d {2}(\S+): (.*)$/;

describe('two homes', () => {
  it('talk both ways: TOFU notice, human output, --json shapes, nothing shown twice', async () => {
    const s1 = await alice.run(['send', 'bob', 'deploy', 'is', 'done']);
    expect(s1.exitCode).toBe(0);
    expect(s1.stdout).toBe('');
    expect(s1.stderr).toMatch(/^hush: pinned bob's key on first use \(fingerprint (\d{5} ){5}\d{5}\); compare it with hush verify bob\nsent 1 message to bob\n$/);

    const p1 = await bob.run(['pull']);
    expect(p1.exitCode).toBe(0);
    expect(p1.stderr).toMatch(/^hush: pinned alice's key on first use/);
    const lines = p1.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(LINE);
    expect(LINE.exec(lines[0]!)!.slice(1)).toEqual(['alice', 'deploy is done']);

    const s2 = await bob.run(['send', 'alice', '--json', 'thanks!']);
    expect(s2.exitCode).toBe(0);
    expect(s2.stderr).toBe('sent 1 message to alice\n'); // alice is pinned already: no notice
    const [sent] = jsonOf(s2.stdout);
    expect(Object.keys(sent!).sort()).toEqual(['event', 'id', 'protocol', 'sealed', 'time', 'to']);
    expect(sent!.protocol).toBe(2); // bob published prekeys at register: a v2 session
    expect(sent).toMatchObject({ event: 'sent', to: 'alice' });
    expect(sent!.id).toMatch(HEX32);

    const p2 = await alice.run(['pull', '--json']);
    expect(p2.exitCode).toBe(0);
    expect(p2.stderr).toBe('');
    const msgs = jsonOf(p2.stdout);
    expect(msgs).toHaveLength(1);
    expect(Object.keys(msgs[0]!).sort()).toEqual(['body', 'event', 'from', 'id', 'time', 'to']);
    expect(msgs[0]).toEqual({ event: 'message', id: sent!.id, from: 'bob', to: 'alice', time: sent!.time, body: 'thanks!' });

    const again = await alice.run(['pull', '--json']);
    expect(again).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    // Receipts (issue 5, issue 13): alice was a stranger to bob when his pull showed her
    // message, so it got no receipt then; his reply made her a contact and queued the receipts
    // for it, which go out with his next command. alice's pull showed bob's message.
    expect(await historyOf(alice.home)).toEqual([
      { direction: 'out', status: 'sent', body: 'deploy is done' },
      { direction: 'in', status: 'read', body: 'thanks!' },
    ]);
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    expect((await alice.run(['pull'])).exitCode).toBe(0);
    expect(await historyOf(alice.home)).toEqual([
      { direction: 'out', status: 'read', body: 'deploy is done' },
      { direction: 'in', status: 'read', body: 'thanks!' },
    ]);
  });

  it('sends the whole of stdin as one message (inner newlines kept, one trailing newline dropped)', async () => {
    const s = await alice.run(['send', 'bob', '--json'], { input: 'line one\n\nline three\n' });
    expect(s.exitCode).toBe(0);
    expect(jsonOf(s.stdout)).toHaveLength(1);
    const p = await bob.run(['pull', '--json']);
    expect(jsonOf(p.stdout).map((m) => m.body)).toEqual(['line one\n\nline three']);
  });

  it('--lines: one message per line, empty lines skipped, CRLF accepted', async () => {
    const s = await alice.run(['send', 'bob', '--lines', '--json'], { input: 'one\n\ntwo\r\n   \nthree' });
    expect(s.exitCode).toBe(0);
    expect(s.stderr).toBe('sent 3 messages to bob\n');
    expect(jsonOf(s.stdout).map((e) => e.event)).toEqual(['sent', 'sent', 'sent']);
    const p = await bob.run(['pull']);
    expect(
      p.stdout
        .trimEnd()
        .split('\n')
        .map((l) => LINE.exec(l)![2]),
    ).toEqual(['one', 'two', 'three']);
  });

  it('--lines streams: each line is accepted by the relay before stdin ends', async () => {
    const child = spawnHush(alice.home, ['send', 'bob', '--lines', '--json']);
    const ids: unknown[] = [];
    for (const [i, text] of ['first', 'second', 'third'].entries()) {
      child.write(`${text}\n`);
      const e = await child.stdout.json(i); // the relay accepted it while stdin is still open
      expect(e).toMatchObject({ event: 'sent', to: 'bob' });
      ids.push(e.id);
    }
    child.end();
    expect((await child.done).exitCode).toBe(0);
    const p = await bob.run(['pull', '--json']);
    const got = jsonOf(p.stdout);
    expect(got.map((m) => m.body)).toEqual(['first', 'second', 'third']);
    expect(got.map((m) => m.id)).toEqual(ids);
  });
});

describe('bad input', () => {
  it('unknown recipient: exit 2, nothing queued', async () => {
    const r = await alice.run(['send', 'carol', 'hi']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('hush: error: no user named carol on the relay\nhush: hint: check the name, or ask carol to run hush register\n');
    expect(await outboxSize(alice.home)).toBe(0);
  });

  it('empty message: exit 2 for empty arguments, empty stdin and stdin without lines', async () => {
    for (const [args, input] of [
      [['send', 'bob', ''], undefined],
      [['send', 'bob'], ''],
      [['send', 'bob'], '\n'],
      [['send', 'bob', '--lines'], '\n\n  \n'],
    ] as const) {
      const r = await alice.run([...args], input === undefined ? {} : { input });
      expect(r.exitCode, `${args.join(' ')} <<< ${JSON.stringify(input)}`).toBe(2);
      expect(r.stderr).toMatch(/^hush: error: (the message is empty|stdin had no lines to send)\nhush: hint: /);
    }
    expect(jsonOf((await bob.run(['pull', '--json'])).stdout)).toEqual([]);
  });

  it('a message over 64 KiB: exit 2 naming the limit; exactly 64 KiB goes through', async () => {
    const big = 'x'.repeat(64 * 1024 + 1);
    const r = await alice.run(['send', 'bob'], { input: big });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: the message is 65537 bytes, the limit is 65536 bytes \(64 KiB\)\nhush: hint: split it/);
    const l = await alice.run(['send', 'bob', '--lines'], { input: `ok\n${big}\n` });
    expect(l.exitCode).toBe(2);
    expect(l.stderr).toMatch(/the limit is 65536 bytes/);
    const fits = await alice.run(['send', 'bob'], { input: 'y'.repeat(64 * 1024) });
    expect(fits.exitCode).toBe(0);
    const p = jsonOf((await bob.run(['pull', '--json'])).stdout);
    // --lines sent the line before the bad one, then stopped
    expect(p.map((m) => (m.body as string).length)).toEqual([2, 64 * 1024]);
  });

  it('binary stdin is refused (hush sends UTF-8 text): exit 2, nothing sent', async () => {
    const HINT = 'hush: hint: a message is text; send binary data as a file: hush send NAME --file PATH (or --file - --name NAME for stdin)\n';
    const bad = spawnHush(alice.home, ['send', 'bob']);
    bad.write(Uint8Array.of(0x68, 0x69, 0xff, 0xfe, 0x0a)); // "hi" then bytes that are not UTF-8
    bad.end();
    expect((await bad.done).exitCode).toBe(2);
    expect(bad.stderr.text()).toBe(`hush: error: stdin is not UTF-8 text\n${HINT}`);

    const nul = await hush(['send', 'bob'], { home: alice.home, env: ENV, input: 'a\u0000b' });
    expect(nul.exitCode).toBe(2);
    expect(nul.stderr).toBe(`hush: error: stdin is not UTF-8 text\n${HINT}`);

    const lines = spawnHush(alice.home, ['send', 'bob', '--lines']);
    lines.write(Uint8Array.of(0xc3, 0x28, 0x0a));
    lines.end();
    expect((await lines.done).exitCode).toBe(2);
    expect(lines.stderr.text()).toBe(`hush: error: a line on stdin is not UTF-8 text\n${HINT}`);

    expect(jsonOf((await bob.run(['pull', '--json'])).stdout)).toEqual([]);
    expect(await outboxSize(alice.home)).toBe(0);
  });

  it('no relay configured: exit 2 with the hint', async () => {
    const home = await makeHome();
    const u = userIn('dave', home);
    expect((await u.run(['init', '--name', 'dave'])).exitCode).toBe(0);
    const r = await u.run(['send', 'bob', 'hi']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('hush: error: no relay is configured\nhush: hint: pass --relay ws://HOST:PORT or set HUSH_RELAY\n');
  });

  it('relay unreachable: exit 4, the message is kept in the outbox and goes out with the next pull', async () => {
    const dead = await startRelayProcess();
    await dead.stop();
    const r = await alice.run(['send', 'bob', '--relay', dead.url, 'kept for later']);
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe('');
    // bob was pinned from the live relay: said once, then the failure
    expect(r.stderr).toBe(
      `hush: note: bob was pinned from ${relay.url}; sending to that key through ${dead.url}\nhush: error: relay ${dead.url} is unreachable; 1 message kept in the outbox\nhush: hint: it will go out with the next hush send, pull or listen\n`,
    );
    expect(await outboxSize(alice.home)).toBe(1);
    expect((await historyOf(alice.home)).at(-1)).toEqual({ direction: 'out', status: 'queued', body: 'kept for later' });

    // not pinned + unreachable: nothing can be sealed, nothing is queued
    const u = await alice.run(['send', 'zed', '--relay', dead.url, 'x']);
    expect(u.exitCode).toBe(4);
    expect(u.stderr).toMatch(/zed's key is not pinned yet, so nothing could be sealed and nothing was queued/);
    expect(await outboxSize(alice.home)).toBe(1);

    const p = await alice.run(['pull', '--json']);
    expect(p.exitCode).toBe(0);
    expect(p.stderr).toBe('sent 1 queued message from the outbox\n');
    expect(jsonOf(p.stdout)).toMatchObject([{ event: 'sent', to: 'bob' }]);
    expect(await outboxSize(alice.home)).toBe(0);
    expect((await historyOf(alice.home)).at(-1)).toEqual({ direction: 'out', status: 'sent', body: 'kept for later' });
    expect(jsonOf((await bob.run(['pull', '--json'])).stdout).map((m) => m.body)).toEqual(['kept for later']);
  });
});
