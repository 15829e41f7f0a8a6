// The first hour with hush (issue #11) through the real binary: help and version, --lines
// with oversize lines, errors in words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { hush, jsonLines } from './helpers.js';
import { newUser, type TestUser } from './messaging-helpers.js';

describe('help and version', () => {
  it('hush help CMD prints that command’s help on stdout and exits 0', async () => {
    const r = await hush(['help', 'send']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hush send \[options\] <name> \[text\.\.\.\]/);
    expect(r.stderr).toBe('');
  });

  it('plain hush help prints the command list and exits 0', async () => {
    const r = await hush(['help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hush \[options\] \[command\]/);
    expect(r.stdout).toContain('completion');
    expect(r.stderr).toBe('');
  });

  it('hush help with an unknown command is still a usage error', async () => {
    const r = await hush(['help', 'nope']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("hush: error: unknown command 'nope'\nhush: hint: run hush --help to see the commands\n");
  });

  it.each([['version'], ['--version'], ['-v'], ['-V']])('hush %s prints the version and exits 0', async (flag) => {
    const r = await hush([flag]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect(r.stderr).toBe('');
  });
});

describe('send --lines with a line over 64 KiB', () => {
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

  it('refuses the oversize lines by number, sends every other line, exits 2 with the count', async () => {
    const big = 'x'.repeat(64 * 1024 + 1);
    const huge = 'z'.repeat(300 * 1024); // longer than any buffer hush keeps for a line
    const input = `one\n${big}\ntwo\n\n${huge}\nthree\n${'y'.repeat(64 * 1024)}\r\nfour`;
    const r = await alice.run(['send', 'bob', '--lines'], { input });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('hush: warning: line 2 not sent: it is 65537 bytes, the limit is 65536 bytes (64 KiB)\n');
    expect(r.stderr).toContain(`hush: warning: line 5 not sent: it is ${300 * 1024} bytes, the limit is 65536 bytes (64 KiB)\n`);
    expect(r.stderr).toContain('sent 5 messages to bob\n');
    expect(r.stderr).toMatch(
      /hush: error: 2 lines not sent: lines 2, 5 are over the limit of 65536 bytes \(64 KiB\) per message\nhush: hint: split long lines \(e\.g\. fold -b -w 65536\) and send them again; every other line was sent\n$/,
    );
    expect(r.stderr).not.toContain('--lines');
    const got = jsonLines((await bob.run(['pull', '--json'])).stdout).map((m) => m.body as string);
    expect(got.map((b) => (b.length > 10 ? `${b[0]}*${b.length}` : b))).toEqual(['one', 'two', 'three', `y*${64 * 1024}`, 'four']);
  });

  it('one oversize line alone: named with its size', async () => {
    const r = await alice.run(['send', 'bob', '--lines'], { input: `${'x'.repeat(70_000)}\n` });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/hush: error: 1 line not sent: line 1 is 70000 bytes over the limit of 65536 bytes \(64 KiB\) per message\n/);
  });
});
