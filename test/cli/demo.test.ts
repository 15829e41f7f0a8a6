/**
 * `npm run demo` minus the build (the suite's pretest builds): runs `node scripts/demo.mjs`
 * for real and checks its transcript: every step ran, the messages arrived, the relay's
 * store shows only ciphertext (no message text), and the temp directory and the relay
 * process are gone afterwards. The user's own HUSH_HOME is never touched. `--redis` runs the same
 * conversation through two relay processes on one real redis-server (alice on relay A, bob on
 * relay B), and shows what Redis stored: ciphertext only.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { skipWithout } from '../needs.js';
import { whyNoRedis } from '../integration/redis-helpers.js';
import { makeHome, ROOT, testEnv } from './helpers.js';

const TEXTS = ['Hi bob! The deploy is done. Lunch at noon?', 'Great news. Noon works, see you there.', 'Bringing the slides, too.'];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs the demo to its end with the user's own home set (it must stay untouched); its transcript. */
async function demo(args: string[], myHome: string): Promise<string> {
  const r = await execa('node', [path.join(ROOT, 'scripts', 'demo.mjs'), ...args], {
    cwd: ROOT,
    env: testEnv({ HUSH_HOME: myHome, HUSH_PASSPHRASE: 'not the demo one' }),
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return r.stdout;
}

describe('npm run demo', () => {
  it('prints a transcript of alice and bob talking, shows only ciphertext on the relay, cleans up, exits 0', async () => {
    const myHome = await makeHome('hush-demo-user-');
    const t = await demo([], myHome);

    // The steps, narrated as commands a user would type.
    for (const line of [
      '[alice] $ hush init --name alice',
      '[bob] $ hush init --name bob',
      `[alice] $ echo '${TEXTS[0]}' | hush send bob`,
      '[bob] $ hush pull',
      '[bob] $ hush history',
      `[bob] $ hush send alice '${TEXTS[1]}'`,
      '[alice] $ hush pull',
      '[alice] $ hush history',
      '[alice] $ hush verify bob',
    ]) {
      expect(t).toContain(`\n${line}\n`);
    }
    expect(t).toMatch(/\n\[alice\] \$ hush register --relay ws:\/\/127\.0\.0\.1:\d+\n {2}registered alice on ws:/);
    expect(t).toMatch(new RegExp(`\\n {2}\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d {2}alice: ${TEXTS[0]!.replace(/[.?!]/g, '\\$&')}\\n`));
    // The status of alice's message moves on once receipts exist (sent, delivered or read).
    expect(t).toMatch(/\n {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}-> bob {2}(sent {7}|delivered {2}|read {7})Hi bob!.*\n {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}<- bob {13}Great news\./);

    // What the relay stored: ciphertext only.
    const dump = t.slice(t.indexOf('# 9.'));
    // At least alice's last message waits for bob (receipts, when they exist, are envelopes too).
    expect(dump).toMatch(
      /mailbox \(\d+ envelopes? waiting to be fetched — messages and delivered\/read receipts look alike; sealed, and no sender is stored\):\n( {4}#\d+ {2}to [0-9a-f]{12}\.\.\. {2}\d+ bytes {2}[A-Za-z0-9+/]{64}\.\.\.\n)+/,
    );
    expect(dump).toContain("checked: none of the 3 message texts appears in the relay's");
    for (const text of TEXTS) expect(dump).not.toContain(text);

    // Cleaned up: the temp directory and the relay process are gone; the user's home untouched.
    const tmp = /Everything lives in (\S+) and is removed/.exec(t)![1]!;
    expect(t).toContain(`# cleaned up ${tmp}`);
    expect(existsSync(tmp)).toBe(false);
    const pid = Number(/\(relay pid (\d+)\)/.exec(t)![1]);
    expect(alive(pid)).toBe(false);
    expect(readdirSync(myHome)).toEqual([]);
  });

  it('interrupted (SIGTERM) mid-way: the relay and the temp directory are removed, exit 143', async () => {
    const child = execa('node', [path.join(ROOT, 'scripts', 'demo.mjs')], {
      cwd: ROOT,
      env: testEnv(),
      extendEnv: false,
      reject: false,
      buffer: false,
      timeout: 120_000,
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    let text = '';
    let err = '';
    child.stderr.on('data', (d: string) => (err += d));
    // Interrupt once the relay runs and the first user exists.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        text += d;
        if (text.includes('[bob] $ hush init')) resolve();
      });
      child.stdout.on('end', () => reject(new Error(`demo ended before the interruption point:\n${text}`)));
    });
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(err).toContain('demo: interrupted (SIGTERM); cleaned up');
    const tmp = /Everything lives in (\S+) and is removed/.exec(text)![1]!;
    expect(existsSync(tmp)).toBe(false);
    expect(alive(Number(/\(relay pid (\d+)\)/.exec(text)![1]))).toBe(false);
  });

  it.skipIf(skipWithout('redis-server', whyNoRedis()))(
    '--redis: alice on relay A and bob on relay B of one Redis talk; Redis holds only ciphertext; everything stops, exit 0',
    async () => {
      const myHome = await makeHome('hush-demo-redis-user-');
      const t = await demo(['--redis'], myHome);
      const a = /\n {2}(ws:\/\/127\.0\.0\.1:\d+) {4}\(relay A, pid (\d+)\)\n/.exec(t);
      const b = /\n {2}(ws:\/\/127\.0\.0\.1:\d+) {4}\(relay B, pid (\d+)\): alice uses relay A, bob relay B\n/.exec(t);
      expect(a).not.toBeNull();
      expect(b).not.toBeNull();
      expect(a![1]).not.toBe(b![1]);
      expect(t).toMatch(/\n\$ mkdir \S+\/redis && redis-server --port \d+ .*--appendonly yes --appendfsync always/);
      expect(t).toContain(`\n[alice] $ hush register --relay ${a![1]}\n`);
      expect(t).toContain(`\n[bob] $ hush register --relay ${b![1]}\n`);
      // Sent through relay A, fetched from relay B, and the reply the other way.
      expect(t).toMatch(new RegExp(`\\[bob\\] \\$ hush pull\\n(.*\\n)? {2}\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d {2}alice: ${TEXTS[0]!.replace(/[.?!]/g, '\\$&')}\\n`));
      expect(t).toMatch(/\[alice\] \$ hush pull\n {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}bob: Great news\. Noon works, see you there\.\n/);

      // What Redis stored: the directory's public keys and sealed envelopes, no text, no sender.
      const dump = t.slice(t.indexOf('# 9.'));
      expect(dump).toMatch(/\$ redis-cli -u redis:\/\/127\.0\.0\.1:\d+\/0 --scan --pattern 'hush:\*'/);
      expect(dump).toMatch(/ {4}alice {4}signPk \S+\.\.\.\n {4}bob {6}signPk \S+\.\.\.\n/);
      expect(dump).toMatch(/mailboxes \(\d+ envelopes? waiting.*no sender is stored\):\n( {4}#\d+ {2}to [0-9a-f]{12}\.\.\. {2}\d+ bytes {2}[A-Za-z0-9+/]{64}\.\.\.\n)+/);
      expect(dump).toMatch(/checked: none of the 3 message texts appears in the relay's \d+ files/);
      for (const text of TEXTS) expect(dump).not.toContain(text);

      // Both relays, Redis and the temp directory are gone; the user's home untouched.
      const tmp = /Everything lives in (\S+) and is removed/.exec(t)![1]!;
      expect(t).toContain(`# cleaned up ${tmp}`);
      expect(existsSync(tmp)).toBe(false);
      expect(alive(Number(a![2]))).toBe(false);
      expect(alive(Number(b![2]))).toBe(false);
      const redisPort = /redis-server --port (\d+)/.exec(t)![1]!;
      const ps = await execa('sh', ['-c', `ps -eo args | grep -c '[r]edis-server 127.0.0.1:${redisPort}' || true`]);
      expect(ps.stdout.trim()).toBe('0');
      expect(readdirSync(myHome)).toEqual([]);
    },
  );
});
