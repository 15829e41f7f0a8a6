/**
 * The saved v1 home (test/fixtures/v1-home, made by scripts/make-v1-home.mjs with an earlier
 * hush): every later hush must open it through the real CLI and show the same identity,
 * contacts and history, or refuse it with a clear error. The fixture is copied to a temp home
 * first and never modified (checked at the end).
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, startRelayProcess } from '../integration/helpers.js';
import { hush, jsonLines, makeHome, ROOT } from './helpers.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'v1-home');
const FILES = ['keyring.json', 'hush.db', 'config.json'];
const expected = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'v1-home.expected.json'), 'utf8'));
const env = { HUSH_PASSPHRASE: expected.passphrase as string };
const digest = (): Record<string, string> =>
  Object.fromEntries(
    readdirSync(FIXTURE)
      .sort()
      .map((f) => [
        f,
        createHash('sha256')
          .update(readFileSync(path.join(FIXTURE, f)))
          .digest('hex'),
      ]),
  );

describe('a v1 home saved by an earlier hush', () => {
  let home: string;
  let before: Record<string, string>;

  beforeAll(async () => {
    before = digest();
    expect(Object.keys(before)).toEqual([...FILES].sort());
    home = await makeHome('hush-v1-home-');
    for (const f of FILES) {
      copyFileSync(path.join(FIXTURE, f), path.join(home, f));
      chmodSync(path.join(home, f), 0o600); // git does not keep the 0600 mode hush requires
    }
  });

  afterAll(() => {
    cleanupTmp();
    expect(digest()).toEqual(before);
  });

  it('is at the floor KDF parameters, so the test stays fast', () => {
    const k = JSON.parse(readFileSync(path.join(home, 'keyring.json'), 'utf8'));
    expect(k).toMatchObject({ type: 'hush-keyring', v: 1, kdf: { alg: 'argon2id', ...expected.kdf } });
  });

  it('whoami shows the saved identity (no passphrase needed)', async () => {
    const r = await hush(['whoami', '--json'], { home });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // toMatchObject: a later hush may add fields to its JSON lines, never change these.
    expect(jsonLines(r.stdout)).toMatchObject([{ ...expected.whoami, keyring: path.join(home, 'keyring.json'), home }]);
    const human = await hush(['whoami'], { home });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain(expected.whoami.fingerprint);
  });

  it('contacts opens the keyring and the store and lists the saved contacts', async () => {
    const r = await hush(['contacts', '--json'], { home, env });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.stdout)).toMatchObject(expected.contacts.map((c: object) => ({ ...c, newFingerprint: null })));
  });

  it('verify gives the safety number the earlier hush’s fingerprints make (PROTOCOL §4: both, sorted, joined)', async () => {
    const bob = expected.contacts.find((c: { name: string }) => c.name === 'bob') as { fingerprint: string };
    const mine = expected.whoami.fingerprint as string;
    const r = await hush(['verify', 'bob', '--json'], { home, env });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.stdout)).toMatchObject([{ name: 'bob', fingerprint: bob.fingerprint, myFingerprint: mine, safetyNumber: [mine, bob.fingerprint].sort().join(' ') }]);
  });

  it('history shows every saved message, both directions, with its status', async () => {
    const r = await hush(['history', '--json'], { home, env });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.stdout)).toMatchObject(expected.history);
    const human = await hush(['history', 'bob'], { home, env });
    expect(human.exitCode).toBe(0);
    for (const m of expected.history.filter((x: { peer: string }) => x.peer === 'bob')) expect(human.stdout).toContain(m.body.split('\n')[0]);
    expect(human.stdout).not.toContain('carol says hi');
  });

  it('holds the quarantined envelope and the outbox entry it was saved with (the v1 file itself, read-only)', async () => {
    // Read from a second copy of the untouched fixture: this checks what the fixture contains
    // in the v1 schema, whatever a later hush migrates its own copy to.
    const raw = await makeHome('hush-v1-raw-');
    copyFileSync(path.join(FIXTURE, 'hush.db'), path.join(raw, 'hush.db'));
    const db = new Database(path.join(raw, 'hush.db'), { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(1);
      expect(db.prepare('SELECT count(*) AS n FROM quarantine').get()).toEqual({ n: expected.quarantined });
      expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: expected.outbox });
    } finally {
      db.close();
    }
  });

  it('pull through a real relay tries the saved outbox message; the relay checks it intact and, not knowing bob there, it stays queued', async () => {
    // Only alice's home was saved, so bob cannot register on a fresh relay, and a relay takes
    // mail only for keys registered on it (UNKNOWN_RECIPIENT, after it recomputed the envelope's
    // id from its bytes: the saved envelope is intact). It stays in the outbox for a later try.
    const relay = await startRelayProcess();
    try {
      const queued = expected.history.filter((m: { status: string }) => m.status === 'queued');
      expect(queued).toHaveLength(1);
      const r = await hush(['pull', '--json', '--relay', relay.url], { home, env });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('1 message still in the outbox: relay refused: the recipient is not registered on this relay');
      expect(relay.log()).not.toMatch(/BAD_ENVELOPE/);
      const h = await hush(['history', '--json'], { home, env });
      expect(h.exitCode).toBe(0);
      expect(jsonLines(h.stdout).find((m) => m.id === queued[0].id)).toMatchObject({ status: 'queued', body: queued[0].body });
    } finally {
      await relay.stop();
    }
  });

  it('a wrong passphrase is refused as such (exit 3), not as damage', async () => {
    const r = await hush(['history'], { home, env: { HUSH_PASSPHRASE: 'not the fixture passphrase' } });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hush: error: .*passphrase/m);
  });
});
