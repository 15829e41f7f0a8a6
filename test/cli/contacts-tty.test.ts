/**
 * hush trust on a real terminal (tmux), stdin piped: the confirmation is asked on the terminal.
 * The changed key is recorded straight in alice's real store (the full relay path of a key
 * change is in contacts-trust.test.ts). Skipped where tmux is missing.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/crypto/fingerprint.js';
import { makeUser } from '../integration/helpers.js';
import { BIN, makeHome, testEnv } from './helpers.js';
import { ENV, jsonOf, openStore, type TestUser, userIn } from './messaging-helpers.js';

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const sockets: string[] = [];
afterAll(async () => {
  for (const s of sockets) await execa('tmux', ['-S', s, 'kill-server'], { reject: false });
});

/** A shell command line running in its own tmux terminal. */
async function terminal(command: string, env: Record<string, string>) {
  const dir = await makeHome('hush-tmux-');
  const sock = path.join(dir, 'sock');
  sockets.push(sock);
  const tmux = (...args: string[]) => execa('tmux', ['-S', sock, ...args], { env, extendEnv: false });
  await tmux('new-session', '-d', '-x', '200', '-y', '40', `${command}; echo EXIT=$?; read _`);
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-J')).stdout;
  /** Polls the screen until `re` shows up; fails at once when the command ended without it. */
  const waitFor = async (re: RegExp): Promise<string> => {
    for (;;) {
      const s = await screen();
      if (re.test(s)) return s;
      if (/EXIT=\d+/.test(s)) throw new Error(`the command ended without showing ${re}:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const type = async (text: string): Promise<void> => {
    await tmux('send-keys', '-l', text);
    await tmux('send-keys', 'Enter');
  };
  return { waitFor, type };
}

let alice: TestUser;
let oldFp: string;
let newFp: string;

beforeEach(async () => {
  alice = userIn('alice', await makeHome('hush-tty-alice-'));
  expect((await alice.run(['init', '--name', 'alice'])).exitCode).toBe(0);
  const before = makeUser('bob');
  const after = makeUser('bob');
  oldFp = fingerprint(before.bundle.signPk);
  newFp = fingerprint(after.bundle.signPk);
  const s = await openStore(alice.home);
  try {
    const pinned = s.pinContact(before.bundle);
    s.recordKeyChange(pinned.contact.id, after.bundle);
  } finally {
    s.close();
  }
});

async function bobContact(): Promise<Record<string, unknown>> {
  const c = await alice.run(['contacts', '--json']);
  return jsonOf(c.stdout)[0]!;
}

describe.skipIf(!hasTmux())('hush trust on a terminal', () => {
  it('a changed key: asks on the terminal with stdin piped; yes accepts the new key, unverified', async () => {
    const t = await terminal(`echo y | node ${BIN} trust bob`, testEnv({ HUSH_HOME: alice.home, ...(ENV as Record<string, string>) }));
    const s1 = await t.waitFor(/Accept bob's new key/);
    expect(s1).toContain(`pinned key: ${oldFp}`);
    expect(s1).toContain(`new key:    ${newFp}`);
    await t.type('y');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain("accepted bob's new key; it is not verified: compare it with hush verify bob");
    expect(await bobContact()).toMatchObject({ fingerprint: newFp, trust: 'unverified', newFingerprint: null });
  });

  it('a changed key: no keeps the old key pinned (exit 5)', async () => {
    const t = await terminal(`node ${BIN} trust bob < /dev/null`, testEnv({ HUSH_HOME: alice.home, ...(ENV as Record<string, string>) }));
    await t.waitFor(/Accept bob's new key/);
    await t.type('n');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=5/);
    expect(s).toContain("hush: error: kept bob's old key; the new key was not accepted");
    expect(await bobContact()).toMatchObject({ fingerprint: oldFp, trust: 'changed', newFingerprint: newFp });
  });
});
