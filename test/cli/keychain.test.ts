/**
 * The OS keychain, for real: `hush unlock --remember`, `hush lock`, `hush passwd` and stale
 * entries against a real Secret Service (gnome-keyring over D-Bus, through keytar), spawning
 * the real binary.
 *
 * The real-keychain cases need a throwaway keyring session: run the suite through
 * `bash scripts/with-keyring.sh npx vitest run test/cli/keychain.test.ts` (.ci/run does this
 * for `npm test`). Outside one they are skipped with the reason in their name, unless
 * HUSH_REQUIRE_KEYCHAIN=1 or CI is set (.ci/run sets both), which makes them fail instead
 * (test/needs.ts); so does the terminal case without tmux. On a desktop,
 * HUSH_TEST_REAL_KEYCHAIN=1 lets them use the session's keychain (entries are removed after).
 *
 * The "no Secret Service" and "hung D-Bus" cases need no keychain and always run.
 */
import { execa } from 'execa';
import { promises as fsp, realpathSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, hush, jsonLines, makeHome, ROOT, testEnv } from './helpers.js';
import { killTerminals, terminal, whyNoTmux } from './tmux.js';
import { inCI, skipWithout } from '../needs.js';

/** Lets the child use the keychain (helpers.ts turns it off by default). */
const KC = { HUSH_NO_KEYCHAIN: undefined };
const STALE = 'hush: hint: the keychain entry for this home no longer matches the keyring; run hush unlock --remember';
const WORKER = path.join(ROOT, 'dist', 'src', 'store', 'keychain-worker.js');

async function init(home: string, pass: string, name = 'alice'): Promise<void> {
  const r = await hush(['init', '--name', name], { home, env: { HUSH_PASSPHRASE: pass } });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
}

/** One keytar call through the worker hush itself uses (to look at / plant entries). */
async function keychain(op: 'get' | 'set' | 'delete', home: string, secret?: string): Promise<unknown> {
  const r = await execa('node', [WORKER], {
    input: JSON.stringify({ op, service: 'hush', account: realpathSync(home), secret }),
    reject: false,
    timeout: 30_000,
  });
  const res = JSON.parse(r.stdout) as { ok: boolean; value?: unknown; message?: string };
  if (!res.ok) throw new Error(`keychain ${op}: ${res.message}`);
  return res.value;
}

async function whyNoKeychain(): Promise<string | undefined> {
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) return 'no D-Bus session; run through scripts/with-keyring.sh';
  if (process.env.HUSH_IN_KEYRING_SESSION !== '1' && process.env.HUSH_TEST_REAL_KEYCHAIN !== '1') {
    return 'not inside scripts/with-keyring.sh (HUSH_TEST_REAL_KEYCHAIN=1 would use this desktop keychain)';
  }
  const home = await makeHome();
  const r = await hush(['--json', 'lock'], { home, env: { ...KC, DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS } });
  const rec = jsonLines(r.stdout)[0];
  if (r.exitCode !== 0 || !rec) return `hush lock failed: ${r.stderr.trim()}`;
  return rec.keychain === 'available' ? undefined : `no Secret Service answers: ${String(rec.reason)}`;
}

/** Runs `command` in its own tmux terminal (tmux.ts); returns the final screen once it has exited. */
async function inTerminal(command: string, env: Record<string, string>, answer: { prompt: RegExp; text: string }): Promise<string> {
  const t = await terminal(command, env);
  try {
    await t.waitFor(answer.prompt);
    await t.type(answer.text);
    return await t.waitFor(/EXIT=\d+/);
  } finally {
    await killTerminals();
  }
}

const skipReason = await whyNoKeychain();
const required = process.env.HUSH_REQUIRE_KEYCHAIN === '1' || inCI();

// Spawning the binary a dozen times per case: more than vitest's 5 s default on a busy machine.
const SLOW = { timeout: 120_000 };

describe.skipIf(skipWithout('an OS keychain (Secret Service)', skipReason, required))(`real OS keychain${skipReason ? ` (unavailable: ${skipReason})` : ''}`, SLOW, () => {
  const homes: string[] = [];
  async function newHome(pass: string, name = 'alice'): Promise<string> {
    const home = await makeHome();
    homes.push(home);
    await init(home, pass, name);
    return home;
  }

  afterAll(async () => {
    for (const h of homes) await hush(['lock'], { home: h, env: KC });
  });

  it('unlock --remember stores the Argon2id wrapping key (never the passphrase); later commands need no passphrase source', async () => {
    const home = await newHome('correct horse');
    const r = await hush(['--json', 'unlock', '--remember'], { home, env: { ...KC, HUSH_PASSPHRASE: 'correct horse' } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const [rec] = jsonLines(r.stdout);
    expect(rec).toEqual({ home, name: 'alice', unlocked: true, source: 'env', remembered: true, expires: expect.any(Number) as unknown });
    // --for defaults to 7 days (the clock of this test and of the child agree within a minute).
    expect(Math.abs((rec!.expires as number) - (Date.now() + 7 * 86_400_000))).toBeLessThan(60_000);

    // The entry: versioned JSON with the wrapping key and the keyring's salt, no passphrase.
    const secret = (await keychain('get', home)) as string;
    expect(secret).not.toContain('correct horse');
    const entry = JSON.parse(secret) as { v: number; key: string; salt: string; expires: number };
    const kr = JSON.parse(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')) as { kdf: { m: number; t: number; p: number; salt: string } };
    expect(entry.v).toBe(2);
    expect(entry.expires).toBe(rec!.expires);
    expect(entry.salt).toBe(kr.kdf.salt);
    const argon2 = await import('argon2');
    const expected = await argon2.hash('correct horse', {
      raw: true,
      type: argon2.argon2id,
      hashLength: 32,
      memoryCost: kr.kdf.m,
      timeCost: kr.kdf.t,
      parallelism: kr.kdf.p,
      salt: Buffer.from(kr.kdf.salt, 'base64'),
    });
    expect(entry.key).toBe(expected.toString('base64'));

    // No --passphrase-file, no fd, no HUSH_PASSPHRASE, no terminal: the keychain opens it.
    const u = await hush(['--json', 'unlock'], { home, env: KC });
    expect(u.stderr).toBe('');
    expect(u.exitCode).toBe(0);
    expect(jsonLines(u.stdout)[0]).toMatchObject({ unlocked: true, source: 'keychain', remembered: false });

    // passwd takes the old key from the keychain and replaces the entry with the new key.
    const p = await hush(['passwd'], { home, env: { ...KC, HUSH_NEW_PASSPHRASE: 'battery staple' } });
    expect(p.stderr).toBe('');
    expect(p.exitCode).toBe(0);
    const after = await hush(['--json', 'unlock'], { home, env: KC });
    expect(after.stderr).toBe('');
    expect(jsonLines(after.stdout)[0]).toMatchObject({ source: 'keychain' });
    const withNew = await hush(['--json', 'unlock'], { home, env: { ...KC, HUSH_PASSPHRASE: 'battery staple' } });
    expect(jsonLines(withNew.stdout)[0]).toMatchObject({ source: 'env' });
  });

  it('--for bounds the remembered key: once it has passed, the entry is deleted on use and the passphrase is needed again', async () => {
    const home = await newHome('pw-for');
    const r = await hush(['--json', 'unlock', '--remember', '--for', '2s'], { home, env: { ...KC, HUSH_PASSPHRASE: 'pw-for' } });
    expect(r.exitCode).toBe(0);
    const { expires } = jsonLines(r.stdout)[0] as { expires: number };
    // The lifetime is the point of this test: wait it out.
    await new Promise((res) => setTimeout(res, Math.max(0, expires - Date.now()) + 100));
    const u = await hush(['unlock'], { home, env: KC });
    expect(u.exitCode).toBe(3);
    expect(u.stderr).toMatch(/^hush: hint: the key remembered in the OS keychain for this home has expired and was removed; run hush unlock --remember/);
    expect(await keychain('get', home)).toBeNull();
    // An entry written before lifetimes existed (version 1) counts as expired too.
    const kr = JSON.parse(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')) as { kdf: { salt: string } };
    await keychain('set', home, JSON.stringify({ v: 1, key: Buffer.alloc(32).toString('base64'), salt: kr.kdf.salt }));
    expect((await hush(['unlock'], { home, env: KC })).stderr).toMatch(/has expired and was removed/);
    expect(await keychain('get', home)).toBeNull();
    for (const bad of [
      ['--remember', '--for', '0s'],
      ['--remember', '--for', 'forever'],
      ['--for', '8h'],
    ]) {
      const b = await hush(['unlock', ...bad], { home, env: { ...KC, HUSH_PASSPHRASE: 'pw-for' } });
      expect(b.exitCode).toBe(2);
      expect(b.stderr).toMatch(/^hush: error: --for /);
    }
  });

  it('lock removes the entry and says whether there was one (exit 0 both times)', async () => {
    const home = await newHome('pw-lock');
    expect((await hush(['unlock', '--remember'], { home, env: { ...KC, HUSH_PASSPHRASE: 'pw-lock' } })).exitCode).toBe(0);

    const l1 = await hush(['--json', 'lock'], { home, env: KC });
    expect(l1.stderr).toBe('');
    expect(l1.exitCode).toBe(0);
    expect(jsonLines(l1.stdout)).toEqual([{ home, removed: true, keychain: 'available', daemon: 'none' }]);
    expect(await keychain('get', home)).toBeNull();

    const l2 = await hush(['lock'], { home, env: KC });
    expect(l2.exitCode).toBe(0);
    expect(l2.stdout).toBe(`no key was remembered for ${home}; nothing to remove\n`);

    // The passphrase is needed again: with no source and no terminal that is an error.
    const u = await hush(['unlock'], { home, env: KC });
    expect(u.exitCode).toBe(3);
    expect(u.stderr).toContain('hush: error: no passphrase given and no terminal to ask for one');
  });

  it('two homes keep separate entries', async () => {
    const a = await newHome('pw-a', 'alice');
    const b = await newHome('pw-b', 'bob');
    expect((await hush(['unlock', '--remember'], { home: a, env: { ...KC, HUSH_PASSPHRASE: 'pw-a' } })).exitCode).toBe(0);
    expect((await hush(['unlock', '--remember'], { home: b, env: { ...KC, HUSH_PASSPHRASE: 'pw-b' } })).exitCode).toBe(0);
    expect(await keychain('get', a)).not.toBe(await keychain('get', b));

    expect(jsonLines((await hush(['--json', 'lock'], { home: a, env: KC })).stdout)[0]).toMatchObject({ removed: true });
    const ub = await hush(['--json', 'unlock'], { home: b, env: KC });
    expect(ub.stderr).toBe('');
    expect(jsonLines(ub.stdout)[0]).toMatchObject({ name: 'bob', source: 'keychain' });
    expect((await hush(['unlock'], { home: a, env: KC })).exitCode).toBe(3);
  });

  it('a passwd elsewhere makes the entry stale: one clear hint, then the other sources', async () => {
    const home = await newHome('old-pw');
    expect((await hush(['unlock', '--remember'], { home, env: { ...KC, HUSH_PASSPHRASE: 'old-pw' } })).exitCode).toBe(0);

    // "Elsewhere": a copy of the home (no keychain entry of its own) changes the passphrase,
    // and its keyring.json comes back here (as a sync or a backup restore would do).
    const copy = await makeHome();
    await fsp.cp(home, copy, { recursive: true });
    const p = await hush(['passwd'], { home: copy, env: { ...KC, HUSH_PASSPHRASE: 'old-pw', HUSH_NEW_PASSPHRASE: 'new-pw' } });
    expect(p.exitCode).toBe(0);
    await fsp.copyFile(path.join(copy, 'keyring.json'), path.join(home, 'keyring.json'));

    const u = await hush(['unlock'], { home, env: KC });
    expect(u.exitCode).toBe(3);
    const lines = u.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(STALE);
    expect(lines.filter((l) => l === STALE)).toHaveLength(1);
    expect(lines[1]).toBe('hush: error: no passphrase given and no terminal to ask for one');

    // HUSH_PASSPHRASE comes before the keychain and still works (no hint then).
    const e = await hush(['--json', 'unlock'], { home, env: { ...KC, HUSH_PASSPHRASE: 'new-pw' } });
    expect(e.stderr).toBe('');
    expect(jsonLines(e.stdout)[0]).toMatchObject({ source: 'env' });

    // Remembering again repairs it.
    expect((await hush(['unlock', '--remember'], { home, env: { ...KC, HUSH_PASSPHRASE: 'new-pw' } })).exitCode).toBe(0);
    const k = await hush(['--json', 'unlock'], { home, env: KC });
    expect(k.stderr).toBe('');
    expect(jsonLines(k.stdout)[0]).toMatchObject({ source: 'keychain' });
  });

  it.skipIf(skipWithout('tmux', whyNoTmux()))('a stale entry falls back to the prompt on the terminal, after the hint', async () => {
    const home = await newHome('old-pw');
    expect((await hush(['unlock', '--remember'], { home, env: { ...KC, HUSH_PASSPHRASE: 'old-pw' } })).exitCode).toBe(0);
    const copy = await makeHome();
    await fsp.cp(home, copy, { recursive: true });
    expect((await hush(['passwd'], { home: copy, env: { ...KC, HUSH_PASSPHRASE: 'old-pw', HUSH_NEW_PASSPHRASE: 'new-pw' } })).exitCode).toBe(0);
    await fsp.copyFile(path.join(copy, 'keyring.json'), path.join(home, 'keyring.json'));

    const screen = await inTerminal(`node ${BIN} unlock < /dev/null`, testEnv({ ...KC, HUSH_HOME: home }), {
      prompt: /Passphrase for alice/,
      text: 'new-pw',
    });
    expect(screen).toContain(STALE);
    expect(screen.indexOf(STALE)).toBeLessThan(screen.indexOf('Passphrase for alice'));
    expect(screen).toContain('the passphrase opens the keyring of alice (typed at the prompt)');
    expect(screen).toMatch(/EXIT=0/);
    expect(screen).not.toContain('new-pw');
  });

  it('an entry with the right salt but a wrong key, or a damaged entry, is stale too', async () => {
    const home = await newHome('pw-x');
    const kr = JSON.parse(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')) as { kdf: { salt: string } };
    await keychain('set', home, JSON.stringify({ v: 2, key: Buffer.alloc(32, 7).toString('base64'), salt: kr.kdf.salt, expires: Date.now() + 3_600_000 }));
    const u = await hush(['unlock'], { home, env: KC });
    expect(u.exitCode).toBe(3);
    expect(u.stderr.split('\n')[0]).toBe(STALE);

    await keychain('set', home, 'not json at all');
    const v = await hush(['unlock'], { home, env: KC });
    expect(v.exitCode).toBe(3);
    expect(v.stderr.split('\n')[0]).toBe(STALE);
  });
});

describe('without a working Secret Service', SLOW, () => {
  const NO_BUS = { ...KC, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/hush-test-bus' };

  it('unlock --remember fails clearly with a hint; lock says so; HUSH_PASSPHRASE still works', async () => {
    const home = await makeHome();
    await init(home, 'pw');

    const r = await hush(['unlock', '--remember'], { home, env: { ...NO_BUS, HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^hush: error: no OS keychain is available: (no keychain answered|keytar is not installed) \(.+\)$/);
    expect(lines[1]).toMatch(/^hush: hint: start a Secret Service \(e\.g\. gnome-keyring\) in this login session, or keep using --passphrase-file/);

    const l = await hush(['--json', 'lock'], { home, env: NO_BUS });
    expect(l.exitCode).toBe(0);
    expect(jsonLines(l.stdout)[0]).toMatchObject({ removed: false, keychain: 'unavailable' });
    expect(l.stderr).toMatch(/^hush: hint: the OS keychain is not available \(.+\), so no key can be remembered/);

    const u = await hush(['--json', 'unlock'], { home, env: { ...NO_BUS, HUSH_PASSPHRASE: 'pw' } });
    expect(u.stderr).toBe('');
    expect(u.exitCode).toBe(0);
    expect(jsonLines(u.stdout)[0]).toMatchObject({ unlocked: true, source: 'env' });
    const w = await hush(['whoami'], { home, env: NO_BUS });
    expect(w.exitCode).toBe(0);

    // No source at all: one hint about the keychain, then the usual error.
    const n = await hush(['unlock'], { home, env: NO_BUS });
    expect(n.exitCode).toBe(3);
    const nl = n.stderr.trimEnd().split('\n');
    expect(nl.filter((x) => x.startsWith('hush: hint: the OS keychain is not available'))).toHaveLength(1);
    expect(nl).toContain('hush: error: no passphrase given and no terminal to ask for one');
  });

  it('no D-Bus session at all: ordinary commands stay quiet about the keychain', async () => {
    const home = await makeHome();
    await init(home, 'pw');
    const n = await hush(['unlock'], { home, env: { ...KC, DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: undefined } });
    expect(n.exitCode).toBe(3);
    expect(n.stderr).toBe(
      'hush: error: no passphrase given and no terminal to ask for one\n' +
        'hush: hint: use --passphrase-file PATH, --passphrase-fd N or the HUSH_PASSPHRASE environment variable\n',
    );
  });

  it('a D-Bus that never answers does not hang hush (the keychain call times out)', async () => {
    const dir = await makeHome();
    const sock = path.join(dir, 'bus');
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s)); // accepts, never speaks
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      const home = await makeHome();
      await init(home, 'pw');
      const env = { ...KC, DBUS_SESSION_BUS_ADDRESS: `unix:path=${sock}`, HUSH_KEYCHAIN_TIMEOUT_MS: '300' };

      const r = await hush(['unlock', '--remember'], { home, env: { ...env, HUSH_PASSPHRASE: 'pw' } });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toContain('hush: error: no OS keychain is available: the keychain did not answer within 0.3 s');

      const n = await hush(['unlock'], { home, env });
      expect(n.exitCode).toBe(3);
      expect(n.stderr).toContain('hush: hint: the OS keychain is not available (the keychain did not answer within 0.3 s)');
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });
});
