/**
 * hush trust on a real terminal (tmux), stdin piped: the confirmation is asked on the terminal.
 * The changed key is recorded straight in alice's real store (the full relay path of a key
 * change is in contacts-trust.test.ts). Skipped where tmux is missing,
 * failed instead in CI (test/needs.ts).
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/crypto/fingerprint.js';
import { makeUser } from '../integration/helpers.js';
import { BIN, makeHome, testEnv } from './helpers.js';
import { killTerminals, terminal, whyNoTmux } from './tmux.js';
import { skipWithout } from '../needs.js';
import { ENV, jsonOf, openStore, type TestUser, userIn } from './messaging-helpers.js';

afterAll(killTerminals);

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

describe.skipIf(skipWithout('tmux', whyNoTmux()))('hush trust on a terminal', () => {
  it('a changed key: asks on the terminal with stdin piped; yes accepts the new key, unverified', async () => {
    const t = await terminal(`echo y | node ${BIN} trust bob`, testEnv({ HUSH_HOME: alice.home, ...(ENV as Record<string, string>) }), 200);
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
    const t = await terminal(`node ${BIN} trust bob < /dev/null`, testEnv({ HUSH_HOME: alice.home, ...(ENV as Record<string, string>) }), 200);
    await t.waitFor(/Accept bob's new key/);
    await t.type('n');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=5/);
    expect(s).toContain("hush: error: kept bob's old key; the new key was not accepted");
    expect(await bobContact()).toMatchObject({ fingerprint: oldFp, trust: 'changed', newFingerprint: newFp });
  });
});
