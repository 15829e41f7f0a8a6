/**
 * The protocol v2 settings of config.json through the real binary and a real relay process
 * (issue #12, docs/PROTOCOL.md §9.10):
 *
 * - `"requireForwardSecrecy": true` (not only --require-fs) refuses v1 both ways: a send to a
 *   peer without prekeys is FORWARD_SECRECY_REQUIRED (exit 5, nothing stored, queued or sent),
 *   v1 mail received is quarantined as NO_FORWARD_SECRECY; v2 still goes both ways, and the
 *   same home with `false` sends v1;
 * - the signed-prekey rotation and grace settings: a bad --prekey-rotation, config
 *   signedPrekeyRotation, --prekey-grace or config signedPrekeyGrace (BAD_PREKEY_ROTATION / BAD_PREKEY_GRACE:
 *   the CLI prints no code; they are pinned in test/unit/prekey-policy.test.ts) is exit 2 with
 *   its `hush: error:` and `hush: hint:` lines, before anything is sent; the flag wins over
 *   the config; `hush register` with one registers nothing on the relay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { makeHome } from './helpers.js';
import { historyOf, jsonOf, newUser, outboxSize, type TestUser, userIn } from './messaging-helpers.js';
import { bodies, captured as capturedAt, keysOf, withRelayDb } from './v2-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let dave: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, dave] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url), newUser('dave', relay.url)]);
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const captured = (to: TestUser): Promise<Uint8Array[]> => capturedAt(relay, to);

/** Merges `patch` into the home's config.json (an undefined value removes the key). */
function configure(u: TestUser, patch: Record<string, unknown>): void {
  const file = path.join(u.home, 'config.json');
  const cfg = { ...(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>), ...patch };
  for (const k of Object.keys(patch)) if (patch[k] === undefined) delete cfg[k];
  fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
}

/** `u`'s prekeys vanish from the relay (as on a relay that predates them): peers can only send v1. */
async function unpublish(u: TestUser): Promise<void> {
  const { signPk } = await keysOf(u);
  withRelayDb(relay, (db) => {
    for (const t of ['prekey_signed', 'prekey_opk', 'prekey_kem']) db.prepare(`DELETE FROM ${t} WHERE sign_pk = ?`).run(signPk);
  });
}

describe('config.json requireForwardSecrecy', () => {
  it('true refuses v1 both ways without the flag: no send without a session (exit 5, nothing kept), v1 mail quarantined; v2 goes on; false sends v1', async () => {
    configure(alice, { requireForwardSecrecy: true });
    await unpublish(dave);
    const refused = await alice.run(['send', 'dave', 'secret']);
    expect(refused.exitCode).toBe(5);
    expect(refused.stderr).toMatch(/^hush: error: refusing to send to dave without forward secrecy: dave has published no prekeys/m);
    expect(refused.stderr).toMatch(/^hush: hint: /m);
    expect(await outboxSize(alice.home)).toBe(0);
    expect((await historyOf(alice.home)).map((m) => m.body)).not.toContain('secret');
    expect(await captured(dave)).toEqual([]);

    // v2 is unaffected: to and from bob, who has prekeys.
    const v2 = await alice.run(['send', 'bob', '--json', 'in a session']);
    expect(jsonOf(v2.stdout)).toMatchObject([{ event: 'sent', protocol: 2 }]);
    expect(bodies((await bob.run(['pull', '--json'])).stdout)).toEqual(['in a session']);
    await bob.run(['send', 'alice', 'answered in it']);
    expect(bodies((await alice.run(['pull', '--json'])).stdout)).toEqual(['answered in it']);

    // Receiving: dave (still without prekeys on the relay) requires it in config.json; bob,
    // who does not, sends him v1. dave's pull keeps it in quarantine, not shown.
    configure(dave, { requireForwardSecrecy: true });
    const v1 = await bob.run(['send', 'dave', '--json', 'plain']);
    expect(jsonOf(v1.stdout)).toMatchObject([{ event: 'sent', protocol: 1 }]);
    const p = await dave.run(['pull', '--json']);
    expect(p.exitCode).toBe(0);
    expect(bodies(p.stdout)).toEqual([]);
    expect(jsonOf(p.stdout)).toMatchObject([{ event: 'quarantined', reason: 'NO_FORWARD_SECRECY' }]);
    expect(p.stderr).toMatch(/1 message from bob sent with protocol v1 \(no forward secrecy\) kept in quarantine, not shown \(--require-fs \/ config requireForwardSecrecy\)/);
    expect(await historyOf(dave.home)).toEqual([]);

    // The control: the same home with false sends the same message v1 (and says so). dave's
    // pull above put his prekeys back on the relay (it did not name his current ones): gone again.
    await unpublish(dave);
    configure(alice, { requireForwardSecrecy: false });
    const plain = await alice.run(['send', 'dave', '--json', 'not secret']);
    expect(plain.exitCode).toBe(0);
    expect(jsonOf(plain.stdout)).toMatchObject([{ event: 'sent', protocol: 1 }]);
    expect(plain.stderr).toMatch(/hush: note: dave has published no prekeys: messages to dave use protocol v1/);
  });
});

describe('the signed-prekey rotation and grace settings', () => {
  const rotationError = (v: string): string => `hush: error: the signed prekey rotation must be a duration from 1s to 365d, not '${v}'\nhush: hint: e.g. --prekey-rotation 7d\n`;

  it('a bad --prekey-rotation is exit 2 with its error and hint (BAD_PREKEY_ROTATION), in pull and in send before anything is sent', async () => {
    for (const v of ['0s', '366d', 'weekly']) {
      const r = await bob.run(['pull', '--prekey-rotation', v]);
      expect(r.exitCode, v).toBe(2);
      expect(r.stderr, v).toBe(rotationError(v));
      expect(r.stdout).toBe('');
    }
    const waiting = await captured(alice);
    const s = await bob.run(['send', 'alice', '--prekey-rotation', '999ms', 'never sent']);
    expect(s.exitCode).toBe(2);
    expect(s.stderr).toBe(rotationError('999ms'));
    expect(await outboxSize(bob.home)).toBe(0);
    expect(await captured(alice)).toEqual(waiting);
  });

  it('a bad config signedPrekeyRotation is the same error; the flag wins over it', async () => {
    configure(bob, { signedPrekeyRotation: '400d' });
    try {
      const waiting = await captured(alice);
      const r = await bob.run(['send', 'alice', 'never sent']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe(rotationError('400d'));
      expect(await outboxSize(bob.home)).toBe(0);
      expect(await captured(alice)).toEqual(waiting);
      const ok = await bob.run(['pull', '--prekey-rotation', '7d']);
      expect(ok.exitCode).toBe(0);
      expect(ok.stderr).toBe('');
    } finally {
      configure(bob, { signedPrekeyRotation: undefined });
    }
  });

  it('a bad --prekey-grace or config signedPrekeyGrace is exit 2 with its own error and hint (BAD_PREKEY_GRACE); the flag wins; a good one is taken', async () => {
    const said = (v: string): string => `hush: error: the signed prekey grace period must be a duration from 1s to 365d, not '${v}'\nhush: hint: e.g. --prekey-grace 7d\n`;
    try {
      for (const v of ['soon', '0s', '366d']) {
        configure(bob, { signedPrekeyGrace: v });
        const r = await bob.run(['pull']);
        expect(r.exitCode, v).toBe(2);
        expect(r.stderr, v).toBe(said(v));
        const f = await bob.run(['pull', '--prekey-grace', v]);
        expect([f.exitCode, f.stderr], `--prekey-grace ${v}`).toEqual([2, said(v)]);
      }
      // The flag wins over a bad config value.
      const flag = await bob.run(['pull', '--prekey-grace', '3d']);
      expect([flag.exitCode, flag.stderr]).toEqual([0, '']);
      configure(bob, { signedPrekeyGrace: '2d' });
      const ok = await bob.run(['pull']);
      expect(ok.exitCode).toBe(0);
      expect(ok.stderr).toBe('');
    } finally {
      configure(bob, { signedPrekeyGrace: undefined });
    }
  });
});

describe('hush trust re-opens the quarantine as a receiving command would', () => {
  it('follows config ratchetLimits and the prekey grace: a bad value is exit 2 before anything is asked or changed', async () => {
    try {
      configure(bob, { ratchetLimits: 'max-skip=oops' });
      const r = await bob.run(['trust', 'alice', '--fingerprint', '00000 00000 00000 00000 00000 00000']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^hush: error: bad ratchet limits 'max-skip=oops'/);
      configure(bob, { ratchetLimits: undefined, signedPrekeyGrace: 'soon' });
      const g = await bob.run(['trust', 'alice', '--fingerprint', '00000 00000 00000 00000 00000 00000']);
      expect([g.exitCode, g.stderr.split('\n')[0]]).toEqual([2, "hush: error: the signed prekey grace period must be a duration from 1s to 365d, not 'soon'"]);
    } finally {
      configure(bob, { ratchetLimits: undefined, signedPrekeyGrace: undefined });
    }
    // Nothing was changed: alice is not verified (a wrong fingerprint would have been refused after the settings anyway).
    const c = jsonOf((await bob.run(['contacts', '--json'])).stdout).find((x) => x.name === 'alice');
    expect(c?.verified).toBe(false);
  });
});

async function fresh(name: string): Promise<TestUser> {
  const u = userIn(name, await makeHome(`hush-reg-${name}-`));
  expect((await u.run(['init', '--name', name])).exitCode).toBe(0);
  return u;
}

const registered = (name: string): boolean => withRelayDb(relay, (db) => db.prepare('SELECT 1 FROM directory WHERE name = ?').get(name) !== undefined);

describe('hush register with a bad signed-prekey setting', () => {
  it('--prekey-rotation 0s: exit 2 and nothing registered on the relay', async () => {
    const u = await fresh('zed');
    const r = await u.run(['register', '--relay', relay.url, '--prekey-rotation', '0s']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("hush: error: the signed prekey rotation must be a duration from 1s to 365d, not '0s'\nhush: hint: e.g. --prekey-rotation 7d\n");
    expect(registered('zed')).toBe(false);
  });

  it('config signedPrekeyGrace "soon": exit 2 and nothing registered on the relay', async () => {
    const u = await fresh('yve');
    fs.writeFileSync(path.join(u.home, 'config.json'), JSON.stringify({ v: 1, signedPrekeyGrace: 'soon' }), { mode: 0o600 });
    const r = await u.run(['register', '--relay', relay.url]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: the signed prekey grace period must be a duration from 1s to 365d, not 'soon'\n/);
    expect(registered('yve')).toBe(false);
  });
});
