/**
 * Passphrases typed on a real terminal (tmux): three tries to open the keyring, a new
 * passphrase asked again after an empty, too weak or mismatched entry, the strength estimate
 * and --weak-passphrase, Ctrl-C exits 130 and writes nothing; and, through execa, an empty or
 * wrong passphrase from a source names that source. Needs tmux: fails in CI (CI=true) when
 * it is missing.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { hasTmux, killTerminals, terminal } from './tmux.js';

const tty = hasTmux() || process.env.CI === 'true';
const GOOD = 'a much longer phrase';

afterAll(killTerminals);

async function initHome(name: string, pass = GOOD): Promise<string> {
  const home = await makeHome();
  expect((await hush(['init', '--name', name], { home, env: { HUSH_PASSPHRASE: pass } })).exitCode).toBe(0);
  return home;
}

/** The regexp for `text` shown `n` times or more on the screen. */
const times = (text: string, n: number): RegExp => new RegExp(`(${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s\\S]*){${n}}`);

describe.skipIf(!tty)('typing a passphrase', () => {
  it('unlocking: a wrong and an empty entry ask again, saying which, and the third try opens', async () => {
    const home = await initHome('three');
    const t = await terminal(`node ${BIN} contacts`, testEnv({ HUSH_HOME: home }));
    await t.waitFor(/Passphrase for three/);
    await t.type('not it');
    await t.waitFor(/hush: wrong passphrase; try again \(2 tries left\)[\s\S]*Passphrase for three/);
    await t.type('');
    await t.waitFor(/hush: the passphrase was empty; try again \(1 try left\)[\s\S]*Passphrase for three/);
    await t.type(GOOD);
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain('no contacts yet');
    expect(s).not.toContain(GOOD);
  });

  it('unlocking: three wrong entries exit 3 with a hint for a typed passphrase', async () => {
    const home = await initHome('wrong');
    const t = await terminal(`node ${BIN} unlock`, testEnv({ HUSH_HOME: home }));
    for (let i = 1; i <= 3; i++) {
      await t.waitFor(times('Passphrase for wrong', i));
      await t.type(`guess ${i}`);
    }
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=3/);
    expect(s).toContain('hush: error: wrong passphrase (3 tries), or the keyring file was modified');
    expect(s).toContain('hush: hint: check Caps Lock and the keyboard layout');
    expect(s).not.toMatch(/HUSH_PASSPHRASE|--passphrase-file/);
  });

  it('a new passphrase: empty, too weak and mismatched entries ask again; a weak one is warned about with its estimate', async () => {
    const home = await makeHome();
    const t = await terminal(`node ${BIN} init --name fresh`, testEnv({ HUSH_HOME: home }));
    await t.waitFor(/New passphrase/);
    await t.type('');
    await t.waitFor(/hush: the passphrase was empty; type one[\s\S]*New passphrase/);
    await t.type('pw');
    await t.waitFor(/hush: too weak: about 9 bits of 40 needed; use a few words or more characters \(or --weak-passphrase\)[\s\S]*New passphrase/);
    await t.type('typed secret');
    await t.waitFor(/hush: warning: a weak passphrase: about 46 bits \(60 or more is good\)[\s\S]*Repeat the passphrase/);
    await t.type('typed secret');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain('created identity fresh');
    expect((await hush(['unlock'], { home, env: { HUSH_PASSPHRASE: 'typed secret' } })).exitCode).toBe(0);
  });

  it('three too weak entries exit 3 naming --weak-passphrase; with it, a weak one is taken with a warning', async () => {
    const home = await makeHome();
    const t = await terminal(`node ${BIN} init --name weak`, testEnv({ HUSH_HOME: home }));
    for (let i = 1; i <= 3; i++) {
      await t.waitFor(times('New passphrase', i));
      await t.type('abc');
    }
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=3/);
    expect(s).toContain('hush: error: the new passphrase is too weak: about 14 bits, the floor is 40 (3 tries)');
    expect(s).toContain('hush: hint: use a few words or more characters; to accept a weak one anyway, add --weak-passphrase');
    expect(await fsp.readdir(home)).toEqual([]);

    const w = await terminal(`node ${BIN} init --name weak --weak-passphrase`, testEnv({ HUSH_HOME: home }));
    await w.waitFor(/New passphrase/);
    await w.type('abc');
    await w.waitFor(/hush: warning: a weak passphrase: about 14 bits \(60 or more is good\)[\s\S]*Repeat the passphrase/);
    await w.type('abc');
    expect(await w.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('Ctrl-C at a prompt exits 130 and changes nothing (init writes no keyring, passwd keeps the old one)', async () => {
    const home = await makeHome();
    const t = await terminal(`node ${BIN} init --name ctrlc`, testEnv({ HUSH_HOME: home }));
    await t.waitFor(/New passphrase/);
    await t.keys('C-c');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=130/);
    expect(s).toContain('hush: error: cancelled at the passphrase prompt; nothing was changed');
    expect(await fsp.readdir(home)).toEqual([]);

    const old = await initHome('ctrlc2');
    const before = await fsp.readFile(path.join(old, 'keyring.json'), 'utf8');
    const p = await terminal(`node ${BIN} passwd`, testEnv({ HUSH_HOME: old, HUSH_PASSPHRASE: GOOD }));
    await p.waitFor(/New passphrase/);
    await p.type('the new one is long enough');
    await p.waitFor(/Repeat the passphrase/);
    await p.keys('C-c');
    expect(await p.waitFor(/EXIT=\d+/)).toMatch(/EXIT=130/);
    expect(await fsp.readFile(path.join(old, 'keyring.json'), 'utf8')).toBe(before);
  });
});

describe('a passphrase from a source', () => {
  it('empty: says which source was empty (exit 3), no key derivation guesswork', async () => {
    const home = await initHome('empty');
    const r = await hush(['contacts'], { home, env: { HUSH_PASSPHRASE: '' } });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe('hush: error: the passphrase from HUSH_PASSPHRASE is empty\nhush: hint: put your passphrase in HUSH_PASSPHRASE\n');
    const f = path.join(home, 'pass');
    await fsp.writeFile(f, '\n');
    const rf = await hush(['contacts', '--passphrase-file', f], { home });
    expect(rf.exitCode).toBe(3);
    expect(rf.stderr).toMatch(/^hush: error: the passphrase from the --passphrase-file file is empty\n/);
  });

  it('wrong: the hint names only the source that was used', async () => {
    const home = await initHome('src');
    const r = await hush(['contacts'], { home, env: { HUSH_PASSPHRASE: 'not it' } });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(
      'hush: error: wrong passphrase from HUSH_PASSPHRASE, or the keyring file was modified\nhush: hint: check HUSH_PASSPHRASE (unset it to be asked on the terminal)\n',
    );
    const fd = await hush(['contacts', '--passphrase-fd', '3'], { home, fds: { 3: 'nope\n' } });
    expect(fd.exitCode).toBe(3);
    expect(fd.stderr).toMatch(/^hush: error: wrong passphrase from the --passphrase-fd descriptor, .*\nhush: hint: check what is written to the --passphrase-fd descriptor/);
    expect(fd.stderr).not.toContain('HUSH_PASSPHRASE');
  });

  it('derived while the command loads (pull, listen, history, contacts): the same errors, after the same earlier checks', async () => {
    // src/cli/early-unlock.ts starts Argon2id before the command's modules load when the
    // passphrase comes from HUSH_PASSPHRASE or --passphrase-file; its error is the command's only
    // where the command unlocks. A wrong passphrase never hides an earlier refusal:
    const home = await initHome('early');
    const wrong = { HUSH_PASSPHRASE: 'not it' };
    const limit = await hush(['history', '--limit', 'many'], { home, env: wrong });
    expect(limit.exitCode).toBe(2);
    expect(limit.stderr).toMatch(/^hush: error: the limit must be a whole number/);
    expect(limit.stderr).not.toMatch(/passphrase/);
    const relay = await hush(['pull'], { home, env: wrong });
    expect(relay.exitCode).toBe(2);
    expect(relay.stderr).toBe('hush: error: no relay is configured\nhush: hint: pass --relay ws://HOST:PORT or set HUSH_RELAY\n');
    // ... and where the command unlocks, it is the error it always was.
    for (const cmd of ['history', 'contacts']) {
      const r = await hush([cmd], { home, env: wrong });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/^hush: error: wrong passphrase from HUSH_PASSPHRASE, or the keyring file was modified\n/);
    }
    const missing = await hush(['history', '--passphrase-file', path.join(home, 'no-such-file')], { home });
    const viaFd = await hush(['history', '--passphrase-fd', '3'], { home, fds: { 3: `${GOOD}\n` }, env: { HUSH_HOME: path.join(home, 'nowhere') } });
    const early = await hush(['history'], { home: path.join(home, 'nowhere'), env: { HUSH_PASSPHRASE: GOOD } });
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/^hush: error: .*no-such-file/);
    // No keyring: the same refusal whether the passphrase came early (HUSH_PASSPHRASE) or not (an fd).
    expect(early.exitCode).toBe(viaFd.exitCode);
    expect(early.exitCode).not.toBe(0);
    expect(early.stderr).toBe(viaFd.stderr);
    // And the right passphrase opens the home as ever.
    const ok = await hush(['history'], { home, env: { HUSH_PASSPHRASE: GOOD } });
    expect(ok.exitCode).toBe(0);
  });

  it('scripts keep working: a short passphrase from HUSH_PASSPHRASE or a file is taken as given, with no warning', async () => {
    const home = await makeHome();
    const r = await hush(['init', '--name', 'script'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const p = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'pw', HUSH_NEW_PASSPHRASE: 'x' } });
    expect(p.exitCode).toBe(0);
    expect(p.stderr).toBe('');
  });
});
