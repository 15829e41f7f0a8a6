/**
 * A home hush cannot use, through the real binary: a file where the home should be, a
 * read-only home (exit 2 in words, never a raw errno code; whoami still works), an unreadable
 * passphrase file. A read-only home is made by running hush as another user (`nobody`, through
 * setpriv) when the tests run as root, since root writes anywhere; as chmod 500 otherwise.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, hush, type HushResult, makeHome, ROOT, testEnv } from './helpers.js';

const ENV = { HUSH_PASSPHRASE: 'pw' };
const RAW_ERRNO = /\be(acces|noent|notdir|exist|badf|perm|rofs|isdir)\b|\bE(ACCES|NOENT|NOTDIR|EXIST|BADF|PERM|ROFS|ISDIR)\b/;
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

const homes: string[] = [];
afterAll(async () => {
  for (const h of homes) await fsp.chmod(h, 0o700).catch(() => undefined);
});

/** A home with a keyring and a store that only a read-only view is left of. */
async function readOnlyHome(): Promise<{ home: string; run: (args: string[], env?: Record<string, string>) => Promise<HushResult> }> {
  const home = await makeHome();
  homes.push(home);
  expect((await hush(['init', '--name', 'ro'], { home, env: ENV })).exitCode).toBe(0);
  expect((await hush(['contacts'], { home, env: ENV })).exitCode).toBe(0); // creates hush.db
  if (isRoot) {
    execFileSync('chown', ['-R', String(NOBODY), home]);
  }
  await fsp.chmod(home, 0o500);
  const run = async (args: string[], env: Record<string, string> = {}): Promise<HushResult> => {
    const full = testEnv({ HUSH_HOME: home, ...ENV, ...env, HOME: home });
    const cmd = isRoot ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'node', BIN, ...args] : ['node', BIN, ...args];
    const r = await execa(cmd[0]!, cmd.slice(1), { env: full, extendEnv: false, cwd: ROOT, reject: false, stdin: 'ignore', stripFinalNewline: false });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  return { home, run };
}

describe('a home that cannot be used', () => {
  it('HUSH_HOME pointing at a file: exit 2, "is a file, not a directory", no chmod advice', async () => {
    const dir = await makeHome();
    const file = path.join(dir, 'not-a-dir');
    await fsp.writeFile(file, 'x', { mode: 0o644 });
    for (const args of [['init', '--name', 'x'], ['whoami'], ['history'], ['contacts']]) {
      const r = await hush(args, { home: file, env: ENV });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(
        `hush: error: the hush home ${file} is a file, not a directory\nhush: hint: point --home / HUSH_HOME at a directory (or a path that does not exist yet)\n`,
      );
    }
    const nested = await hush(['init', '--name', 'x'], { home: path.join(file, 'sub'), env: ENV });
    expect(nested.exitCode).toBe(2);
    expect(nested.stderr).toMatch(new RegExp(`^hush: error: cannot write ${path.join(file, 'sub')}: ${file} is a file, not a directory\\nhush: hint: `));
    expect(await fsp.readFile(file, 'utf8')).toBe('x');
  });

  it('a read-only home: whoami and unlock work; history, contacts, verify, send and passwd exit 2 in words; nothing changes', async () => {
    const { home, run } = await readOnlyHome();
    const before = (await fsp.readdir(home)).sort();
    const who = await run(['whoami', '--json']);
    expect(who.exitCode).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ name: 'ro' });
    const unlock = await run(['unlock']);
    expect(unlock.exitCode).toBe(0);
    expect(unlock.stdout).toContain('the passphrase opens the keyring of ro');
    for (const args of [['history'], ['contacts'], ['verify', 'bob'], ['send', 'bob', 'hi', '--relay', 'ws://127.0.0.1:9']]) {
      const r = await run(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(
        `hush: error: cannot write ${home}: permission denied; hush keeps its history there and must write to it\n` +
          `hush: hint: make it writable by you (chmod u+w ${home}), or run hush as the user who owns it\n`,
      );
    }
    const pw = await run(['passwd'], { HUSH_NEW_PASSPHRASE: 'new one' });
    expect(pw.exitCode).toBe(2);
    expect(pw.stderr).toMatch(new RegExp(`^hush: error: cannot write ${home}/keyring.json: permission denied\\nhush: hint: make ${home} a directory you can write to`));
    expect(pw.stderr).not.toMatch(RAW_ERRNO);
    expect((await fsp.readdir(home)).sort()).toEqual(before);
  });

  it('an unreadable passphrase file says why in words (exit 3)', async () => {
    const home = await makeHome();
    expect((await hush(['init', '--name', 'pf'], { home, env: ENV })).exitCode).toBe(0);
    const r = await hush(['contacts', '--passphrase-file', path.join(home, 'missing')], { home });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^hush: error: cannot read the passphrase file \S+missing: no such file or directory\n/);
    const d = await hush(['contacts', '--passphrase-file', home], { home });
    expect(d.exitCode).toBe(3);
    expect(d.stderr).toMatch(/: it is a directory, not a file\n/);
    expect(r.stderr + d.stderr).not.toMatch(RAW_ERRNO);
  });
});
