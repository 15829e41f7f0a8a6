/**
 * The CLI foundation (issue 2): init, whoami, passwd, passphrase sources, exit codes, file
 * modes, the keyring on disk under attack, usage errors, and a cold `--help` that loads no
 * heavy module. Every case runs the real binary (test/cli/helpers.ts).
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { execa } from 'execa';
import { BIN, hush, jsonLines, makeHome, ROOT, testEnv } from './helpers.js';
import { type ModuleLog, moduleLogger, requireLogger } from './module-log.js';
import { skipWithout } from '../needs.js';

// Each case spawns real processes; the cli project does not inherit the root testTimeout.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const FP_RE = /^\d{5}( \d{5}){5}$/;
const isPosix = process.platform !== 'win32';

async function mode(p: string): Promise<number> {
  return (await fsp.stat(p)).mode & 0o777;
}

/** A fresh home with an identity `name` under passphrase `pw`. */
async function initHome(name = 'alice', pw = 'correct horse'): Promise<string> {
  const home = await makeHome();
  const r = await hush(['init', '--name', name], { home, env: { HUSH_PASSPHRASE: pw } });
  expect(r.exitCode, r.stderr).toBe(0);
  return home;
}

async function readKeyringJson(home: string): Promise<Record<string, unknown> & { kdf: Record<string, unknown> }> {
  return JSON.parse(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')) as Record<string, unknown> & { kdf: Record<string, unknown> };
}

async function writeKeyringJson(home: string, k: unknown): Promise<void> {
  await fsp.writeFile(path.join(home, 'keyring.json'), JSON.stringify(k), { mode: 0o600 });
}

/** passwd to the same passphrase: the cheapest command that must unlock the keyring. */
function unlockProbe(home: string, opts: { env?: Record<string, string | undefined>; fds?: Record<number, string>; args?: string[] } = {}) {
  return hush(['passwd', ...(opts.args ?? [])], {
    home,
    env: { HUSH_NEW_PASSPHRASE: 'correct horse', ...opts.env },
    ...(opts.fds ? { fds: opts.fds } : {}),
  });
}

const loadLogger = (): Promise<ModuleLog> => moduleLogger('request');

const HEAVY = /\b(argon2|ws|better-sqlite3)\b/;
function heavyModules(loaded: string): string[] {
  return loaded
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(' ')[0]!)
    .filter((spec) => HEAVY.test(spec) && !spec.startsWith('.'));
}

describe.concurrent('hush init', () => {
  it('creates a 0700 home and a 0600 keyring, prints name, fingerprint and path, nothing on stderr', async () => {
    const parent = await makeHome();
    const home = path.join(parent, 'nested', 'home');
    const r = await hush(['init', '--name', 'alice'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('alice');
    expect(r.stdout).toMatch(/fingerprint\s+\d{5}( \d{5}){5}/);
    expect(r.stdout).toContain(path.join(home, 'keyring.json'));
    if (isPosix) {
      expect(await mode(home)).toBe(0o700);
      expect(await mode(path.join(home, 'keyring.json'))).toBe(0o600);
    }
    const files = await fsp.readdir(home);
    expect(files).toEqual(['keyring.json']); // no temp file left behind
  });

  it('--json prints one object with stable fields', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--name', 'bob', '--json'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const lines = jsonLines(r.stdout);
    expect(lines).toHaveLength(1);
    const o = lines[0]!;
    expect(Object.keys(o).sort()).toEqual(['boxPk', 'fingerprint', 'home', 'keyring', 'name', 'signPk']);
    expect(o.name).toBe('bob');
    expect(o.fingerprint).toMatch(FP_RE);
    expect(Buffer.from(o.signPk as string, 'base64')).toHaveLength(32);
    expect(o.keyring).toBe(path.join(home, 'keyring.json'));
    expect(o.home).toBe(home);
  });

  it('writes no secret in clear: the file holds only the documented fields', async () => {
    const home = await initHome();
    const k = await readKeyringJson(home);
    expect(Object.keys(k).sort()).toEqual(['boxPk', 'created', 'kdf', 'name', 'secrets', 'signPk', 'type', 'v', 'wrap']);
    expect(k.kdf).toMatchObject({ alg: 'argon2id', m: 8192, t: 1, p: 1 });
  });

  it('refuses to overwrite an existing keyring without --force (exit 2), replaces it with --force', async () => {
    const home = await initHome();
    const before = await fsp.readFile(path.join(home, 'keyring.json'), 'utf8');
    const r = await hush(['init', '--name', 'alice'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hush: error: a keyring already exists in .*\nhush: hint: .*--force/);
    expect(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')).toBe(before);

    const f = await hush(['init', '--name', 'alice2', '--force', '--json'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(f.exitCode).toBe(0);
    expect(jsonLines(f.stdout)[0]!.name).toBe('alice2');
    expect(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')).not.toBe(before);
  });

  it('refuses an empty passphrase (env, or a file holding only a newline) and writes nothing', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--name', 'alice'], { home, env: { HUSH_PASSPHRASE: '' } });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^hush: error: the new passphrase is empty\n/);
    const pwFile = path.join(home, 'pw');
    await fsp.writeFile(pwFile, '\n');
    const r2 = await hush(['init', '--name', 'alice', '--passphrase-file', pwFile], { home });
    expect(r2.exitCode).toBe(3);
    expect(await fsp.readdir(home)).toEqual(['pw']);
  });

  it('with no passphrase source and no terminal: exit 3 naming the three sources', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--name', 'alice'], { home, input: 'stdin is not a passphrase\n' });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hush: error: no passphrase given and no terminal to ask for one\nhush: hint: /);
    for (const s of ['--passphrase-file', '--passphrase-fd', 'HUSH_PASSPHRASE']) expect(r.stderr).toContain(s);
    expect(await fsp.readdir(home)).toEqual([]);
  });

  it('the name defaults to the OS user name, lowercased, or asks for --name', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--json'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    const user = os.userInfo().username.toLowerCase();
    if (/^[a-z0-9][a-z0-9._-]{0,31}$/.test(user)) {
      expect(r.exitCode).toBe(0);
      expect(jsonLines(r.stdout)[0]!.name).toBe(user);
    } else {
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('hush init --name NAME');
    }
  });

  it('refuses an invalid name (exit 2) before asking anything', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--name', 'Alice!'], { home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: invalid name "Alice!"\nhush: hint: /);
  });

  it('refuses HUSH_KDF_PARAMS below the floor or above the ceiling (exit 2) before Argon2 is loaded', async () => {
    for (const bad of ['m=4096,t=1,p=1', 'm=8192,t=17,p=1', 'm=2097152', 'p=0', 'x=1', 'nonsense']) {
      const home = await makeHome();
      const hook = await loadLogger();
      const r = await hush(['init', '--name', 'alice'], { home, env: { HUSH_PASSPHRASE: 'pw', HUSH_KDF_PARAMS: bad }, nodeArgs: hook.nodeArgs });
      expect(r.exitCode, bad).toBe(2);
      expect(r.stderr).toMatch(/^hush: error: HUSH_KDF_PARAMS .*\nhush: hint: /);
      expect(await fsp.readdir(home)).toEqual([]);
      const loaded = await hook.loaded();
      expect(loaded).toContain('commander'); // the hook works
      expect(heavyModules(loaded)).toEqual([]);
    }
  });

  it('reports an unwritable home as a usage error', async () => {
    const parent = await makeHome();
    await fsp.writeFile(path.join(parent, 'file'), 'x');
    const r = await hush(['init', '--name', 'alice'], { home: path.join(parent, 'file', 'home'), env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: cannot write .*\nhush: hint: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.concurrent('hush whoami', () => {
  let home: string;
  let initJson: Record<string, unknown>;
  beforeAll(async () => {
    home = await makeHome();
    const r = await hush(['init', '--name', 'carol', '--json'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(0);
    initJson = jsonLines(r.stdout)[0]!;
  });

  it('needs no passphrase and prints name, fingerprint, relay "none" and the keyring path', async () => {
    const r = await hush(['whoami'], { home });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^name\s+carol$/m);
    expect(r.stdout).toContain(`fingerprint  ${initJson.fingerprint as string}`);
    expect(r.stdout).toContain(`signPk       ${initJson.signPk as string}`);
    expect(r.stdout).toMatch(/^relay\s+none$/m);
    expect(r.stdout).toContain(path.join(home, 'keyring.json'));
  });

  it('--json has stable fields; relay comes from --relay, else HUSH_RELAY, else config.json', async () => {
    const home = await initHome('carol');
    const r = await hush(['whoami', '--json'], { home });
    expect(r.exitCode).toBe(0);
    const o = jsonLines(r.stdout)[0]!;
    expect(Object.keys(o).sort()).toEqual(['boxPk', 'created', 'fingerprint', 'home', 'keyring', 'name', 'relay', 'signPk']);
    expect(o).toMatchObject({ name: 'carol', relay: null });
    expect(o.fingerprint).toMatch(FP_RE);

    await fsp.writeFile(path.join(home, 'config.json'), JSON.stringify({ v: 1, relay: 'ws://config.example:1', future: true }), { mode: 0o600 });
    const fromConfig = jsonLines((await hush(['whoami', '--json'], { home })).stdout)[0]!;
    expect(fromConfig.relay).toBe('ws://config.example:1');
    const fromEnv = jsonLines((await hush(['whoami', '--json'], { home, env: { HUSH_RELAY: 'ws://env.example:2' } })).stdout)[0]!;
    expect(fromEnv.relay).toBe('ws://env.example:2');
    // global options work before and after the command name
    const fromFlag = await hush(['--relay', 'wss://flag.example', 'whoami', '--json'], { home, env: { HUSH_RELAY: 'ws://env.example:2' } });
    expect(jsonLines(fromFlag.stdout)[0]!.relay).toBe('wss://flag.example');
    const bad = await hush(['whoami', '--relay', 'http://nope'], { home });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: --relay is not a ws:\/\/ or wss:\/\/ URL/);
  });

  it('--home beats HUSH_HOME', async () => {
    const other = await makeHome();
    const r = await hush(['--home', home, 'whoami', '--json'], { home: other });
    expect(r.exitCode).toBe(0);
    expect(jsonLines(r.stdout)[0]!.home).toBe(home);
  });

  it('without a keyring: exit 2 with a hint to run hush init', async () => {
    const empty = await makeHome();
    const r = await hush(['whoami', '--json'], { home: empty });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hush: error: no keyring in .*\nhush: hint: run hush init/);
  });

  it('refuses a keyring readable by others (exit 2, hint chmod 600) and warns about a non-0700 home', async () => {
    if (!isPosix) return;
    const h = await initHome('dave');
    const file = path.join(h, 'keyring.json');
    await fsp.chmod(file, 0o644);
    const r = await hush(['whoami'], { home: h });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`hush: hint: chmod 600 ${file}`);
    await fsp.chmod(file, 0o600);
    await fsp.chmod(h, 0o755);
    const w = await hush(['whoami'], { home: h });
    expect(w.exitCode).toBe(0);
    expect(w.stderr).toMatch(/^hush: warning: .*chmod 700/);
  });
});

describe.concurrent('passphrase sources', () => {
  it('file (one trailing newline stripped), fd (CRLF stripped) and HUSH_PASSPHRASE all unlock', async () => {
    const home = await initHome('erin', 'correct horse');
    const pw = path.join(home, 'pw.txt');
    await fsp.writeFile(pw, 'correct horse\n');
    expect((await unlockProbe(home, { args: ['--passphrase-file', pw] })).exitCode).toBe(0);
    expect((await unlockProbe(home, { args: ['--passphrase-fd', '3'], fds: { 3: 'correct horse\r\n' } })).exitCode).toBe(0);
    expect((await unlockProbe(home, { env: { HUSH_PASSPHRASE: 'correct horse' } })).exitCode).toBe(0);
    // only ONE newline is stripped
    await fsp.writeFile(pw, 'correct horse\n\n');
    expect((await unlockProbe(home, { args: ['--passphrase-file', pw] })).exitCode).toBe(3);
  });

  it('precedence: --passphrase-file, then --passphrase-fd, then HUSH_PASSPHRASE', async () => {
    const home = await initHome('frank', 'correct horse');
    const good = path.join(home, 'good');
    const bad = path.join(home, 'bad');
    await fsp.writeFile(good, 'correct horse');
    await fsp.writeFile(bad, 'wrong');
    // file wins over fd and env
    expect((await unlockProbe(home, { args: ['--passphrase-file', good, '--passphrase-fd', '3'], fds: { 3: 'wrong' }, env: { HUSH_PASSPHRASE: 'wrong' } })).exitCode).toBe(0);
    expect(
      (await unlockProbe(home, { args: ['--passphrase-file', bad, '--passphrase-fd', '3'], fds: { 3: 'correct horse' }, env: { HUSH_PASSPHRASE: 'correct horse' } })).exitCode,
    ).toBe(3);
    // fd wins over env
    expect((await unlockProbe(home, { args: ['--passphrase-fd', '3'], fds: { 3: 'correct horse' }, env: { HUSH_PASSPHRASE: 'wrong' } })).exitCode).toBe(0);
    expect((await unlockProbe(home, { args: ['--passphrase-fd', '3'], fds: { 3: 'wrong' }, env: { HUSH_PASSPHRASE: 'correct horse' } })).exitCode).toBe(3);
  });

  it('a wrong passphrase exits 3 and rewrites nothing', async () => {
    const home = await initHome('gina', 'correct horse');
    const before = await fsp.readFile(path.join(home, 'keyring.json'), 'utf8');
    const r = await unlockProbe(home, { env: { HUSH_PASSPHRASE: 'nope' } });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hush: error: wrong passphrase.*\nhush: hint: /);
    expect(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')).toBe(before);
  });

  it('unlocking with no source and no terminal: exit 3 naming the three sources', async () => {
    const home = await initHome('hank');
    const r = await hush(['passwd'], { home, env: { HUSH_NEW_PASSPHRASE: 'x' }, input: 'piped\n' });
    expect(r.exitCode).toBe(3);
    for (const s of ['--passphrase-file', '--passphrase-fd', 'HUSH_PASSPHRASE']) expect(r.stderr).toContain(s);
  });

  it('an unreadable passphrase file or descriptor is a passphrase error, not a crash', async () => {
    const home = await initHome('ivan');
    const r = await unlockProbe(home, { args: ['--passphrase-file', path.join(home, 'missing')] });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^hush: error: cannot read the passphrase file .*: no such file or directory\n/);
    const bad = await hush(['passwd', '--passphrase-fd', 'three'], { home });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: option '--passphrase-fd <n>' argument 'three' is invalid/);
  });
});

describe.concurrent('hush passwd', () => {
  it('the old passphrase stops working and the new one works; a fresh salt is drawn', async () => {
    const home = await initHome('judy', 'old pass');
    const before = await readKeyringJson(home);
    const newFile = path.join(home, 'new');
    await fsp.writeFile(newFile, 'new pass\n');
    const r = await hush(['passwd', '--new-passphrase-file', newFile], { home, env: { HUSH_PASSPHRASE: 'old pass' } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('passphrase changed for judy\n');
    const after = await readKeyringJson(home);
    expect(after.kdf.salt).not.toBe(before.kdf.salt);
    expect(after.secrets).toEqual(before.secrets);
    expect(after.signPk).toBe(before.signPk);
    if (isPosix) expect(await mode(path.join(home, 'keyring.json'))).toBe(0o600);

    const old = await hush(['passwd', '--json'], { home, env: { HUSH_PASSPHRASE: 'old pass', HUSH_NEW_PASSPHRASE: 'x' } });
    expect(old.exitCode).toBe(3);
    expect(old.stdout).toBe('');
    const ok = await hush(['passwd', '--json'], { home, env: { HUSH_PASSPHRASE: 'new pass', HUSH_NEW_PASSPHRASE: 'third' } });
    expect(ok.exitCode).toBe(0);
    expect(jsonLines(ok.stdout)).toEqual([{ name: 'judy', keyring: path.join(home, 'keyring.json'), changed: true }]);
    expect((await unlockProbe(home, { env: { HUSH_PASSPHRASE: 'third', HUSH_NEW_PASSPHRASE: 'third' } })).exitCode).toBe(0);
    expect(await fsp.readdir(home)).toEqual(['keyring.json', 'new']);
  });

  it.skipIf(skipWithout('/proc (Linux)', process.platform === 'linux' ? undefined : `not Linux (${process.platform})`))(
    'killed while deriving the new key: the old keyring still opens and nothing is left behind',
    async () => {
      const home = await initHome('kate', 'old pass');
      const before = await fsp.readFile(path.join(home, 'keyring.json'), 'utf8');
      // The new wrap uses 128 MiB of Argon2 memory; the old keyring opens at the floor (8 MiB).
      const child = execa('node', [BIN, 'passwd'], {
        env: testEnv({ HUSH_HOME: home, HUSH_PASSPHRASE: 'old pass', HUSH_NEW_PASSPHRASE: 'new pass', HUSH_KDF_PARAMS: 'm=131072,t=4,p=1' }),
        extendEnv: false,
        cwd: ROOT,
        reject: false,
        detached: true,
      });
      // Wait until the new derivation is running (its memory is allocated), then kill -9.
      const rssKiB = async (): Promise<number> => {
        const status = await fsp.readFile(`/proc/${child.pid!}/status`, 'utf8').catch(() => '');
        return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      };
      let exited = false;
      void child.then(() => (exited = true));
      while (!exited && (await rssKiB()) < 100 * 1024) await new Promise((r) => setTimeout(r, 5));
      expect(exited).toBe(false);
      child.kill('SIGKILL');
      const r = await child;
      expect(r.signal).toBe('SIGKILL');
      expect(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')).toBe(before);
      expect(await fsp.readdir(home)).toEqual(['keyring.json']);
      expect((await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'old pass', HUSH_NEW_PASSPHRASE: 'old pass' } })).exitCode).toBe(0);
    },
  );

  it('refuses an empty new passphrase and, with no source and no terminal, names the new-passphrase sources', async () => {
    const home = await initHome('kim', 'pw');
    const before = await fsp.readFile(path.join(home, 'keyring.json'), 'utf8');
    const empty = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'pw', HUSH_NEW_PASSPHRASE: '' } });
    expect(empty.exitCode).toBe(3);
    expect(empty.stderr).toMatch(/^hush: error: the new passphrase is empty/);
    const none = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toContain('--new-passphrase-file');
    expect(none.stderr).toContain('HUSH_NEW_PASSPHRASE');
    expect(await fsp.readFile(path.join(home, 'keyring.json'), 'utf8')).toBe(before);
  });
});

describe.concurrent('a damaged or hostile keyring file', () => {
  it('a tampered header (name, signPk, kdf.m) fails to unlock with a passphrase or data error', async () => {
    const home = await initHome('leo', 'correct horse');
    const orig = await readKeyringJson(home);
    const otherSignPk = (await readKeyringJson(await initHome('mia'))).signPk;
    const cases: [string, unknown][] = [
      ['name', { ...orig, name: 'mallory' }],
      ['signPk', { ...orig, signPk: otherSignPk }],
      ['kdf.m', { ...orig, kdf: { ...orig.kdf, m: (orig.kdf.m as number) + 1 } }],
      ['created', { ...orig, created: (orig.created as number) + 1 }],
    ];
    for (const [what, k] of cases) {
      await writeKeyringJson(home, k);
      const r = await unlockProbe(home, { env: { HUSH_PASSPHRASE: 'correct horse' } });
      expect([3, 6], what).toContain(r.exitCode);
      expect(r.stderr, what).toMatch(/^hush: error: .*(wrong passphrase|corrupted or (was )?tampered)/);
      expect(r.stderr, what).not.toMatch(/\n\s+at /);
    }
    await writeKeyringJson(home, orig);
    expect((await unlockProbe(home, { env: { HUSH_PASSPHRASE: 'correct horse' } })).exitCode).toBe(0);
  });

  it('KDF parameters below the floor or above the ceiling are refused (exit 6) before Argon2 is even loaded', async () => {
    const home = await initHome('nina', 'correct horse');
    const orig = await readKeyringJson(home);
    for (const kdf of [{ m: 1024 }, { t: 0 }, { m: 4_000_000_000 }, { t: 1000 }, { p: 255 }]) {
      await writeKeyringJson(home, { ...orig, kdf: { ...orig.kdf, ...kdf } });
      const hook = await loadLogger();
      const r = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'correct horse', HUSH_NEW_PASSPHRASE: 'x' }, nodeArgs: hook.nodeArgs });
      expect(r.exitCode, JSON.stringify(kdf)).toBe(6);
      expect(r.stderr).toMatch(/^hush: error: keyring key-derivation parameters are outside the allowed range/);
      expect(heavyModules(await hook.loaded())).toEqual([]);
    }
  });

  it('an unknown keyring version exits 6 (whoami and passwd)', async () => {
    const home = await initHome('olga');
    await writeKeyringJson(home, { ...(await readKeyringJson(home)), v: 2 });
    for (const args of [['whoami'], ['passwd']]) {
      const r = await hush(args, { home, env: { HUSH_PASSPHRASE: 'correct horse', HUSH_NEW_PASSPHRASE: 'x' } });
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/^hush: error: keyring version 2 is not supported\nhush: hint: /);
    }
  });

  it('a truncated, non-JSON or mis-shaped keyring exits 6 with one clear line', async () => {
    const home = await initHome('pete');
    const text = await fsp.readFile(path.join(home, 'keyring.json'), 'utf8');
    for (const bad of [text.slice(0, text.length / 2), 'not json at all', '[]', JSON.stringify({ type: 'hush-keyring', v: 1 })]) {
      await fsp.writeFile(path.join(home, 'keyring.json'), bad, { mode: 0o600 });
      const r = await hush(['whoami'], { home });
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/^hush: error: the keyring .* is corrupted or tampered with .*\nhush: hint: /);
      expect(r.stderr.split('\n')).toHaveLength(3);
    }
  });
});

describe.concurrent('usage errors and help', () => {
  it('commander usage errors come out in the house format with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['whoami', '--bogus'], /^hush: error: unknown option '--bogus'\nhush: hint: run hush whoami --help\n$/],
      [['inti'], /^hush: error: unknown command 'inti'\nhush: hint: did you mean init\? run hush --help\n$/],
      [['init', '--name'], /^hush: error: option '--name <name>' argument missing\nhush: hint: run hush init --help\n$/],
      [['whoami', 'extra'], /^hush: error: too many arguments for 'whoami'.*\nhush: hint: run hush whoami --help\n$/],
      [['--bogus'], /^hush: error: unknown option '--bogus'\nhush: hint: run hush --help\n$/],
    ];
    for (const [args, re] of cases) {
      const r = await hush(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    const none = await hush([]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toBe('hush: error: missing command\nhush: hint: run hush --help to see the commands\n');
    const helpNope = await hush(['help', 'nope']);
    expect(helpNope.exitCode).toBe(2);
    expect(helpNope.stderr).toBe("hush: error: unknown command 'nope'\nhush: hint: run hush --help to see the commands\n");
  });

  it('--help exits 0 on stdout, lists the commands, and a cold --help loads no argon2, ws, better-sqlite3 or chalk', async () => {
    const hook = await loadLogger();
    const req = await requireLogger();
    // Colour allowed (no NO_COLOR): chalk stays unloaded because nothing is coloured off a TTY.
    const r = await hush(['--help'], { nodeArgs: [...hook.nodeArgs, ...req.nodeArgs], env: { NO_COLOR: undefined } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of ['init', 'whoami', 'passwd', 'relay']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    const loaded = await hook.loaded();
    expect(loaded).toContain('commander');
    expect(heavyModules(loaded)).toEqual([]);
    expect(loaded).not.toMatch(/commands\/(init|whoami|passwd|relay)\.js/);
    expect(loaded).not.toMatch(/\bchalk\b/);
    expect(await req.requests()).toContain('node:fs'); // the require log works (main.ts requires node:fs)
    expect(await req.requests()).not.toContain('chalk');

    // the same hook does see argon2 when a command really derives a key (positive control)
    const home = await makeHome();
    const control = await loadLogger();
    const i = await hush(['init', '--name', 'quinn'], { home, env: { HUSH_PASSPHRASE: 'pw' }, nodeArgs: control.nodeArgs });
    expect(i.exitCode).toBe(0);
    expect(heavyModules(await control.loaded())).toContain('argon2');
  });

  it('hush relay hands every argument, --help included, to the relay untouched', async () => {
    const r = await hush(['relay', '--port', '0', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^usage: hush relay \[options\]/);
    expect(r.stdout).not.toContain('Global Options');
    const bad = await hush(['relay', '--no-such-relay-flag']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("unknown option '--no-such-relay-flag'");
    expect(bad.stderr).not.toContain('run hush relay --help'); // the relay's own error, not commander's
  });

  it('command help does not load the command either', async () => {
    const hook = await loadLogger();
    const r = await hush(['init', '--help'], { nodeArgs: hook.nodeArgs });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--name <name>');
    expect(r.stdout).toContain('--passphrase-file <path>');
    expect(heavyModules(await hook.loaded())).toEqual([]);
  });
});
