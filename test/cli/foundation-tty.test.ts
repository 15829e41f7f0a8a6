/**
 * The interactive passphrase prompt on a real terminal (tmux), with stdin piped: the prompt
 * must read the terminal, not stdin. Skipped where tmux is missing,
 * failed instead in CI (test/needs.ts; .ci/run installs it).
 */
import { promises as fsp } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { killTerminals, terminal, whyNoTmux } from './tmux.js';
import { skipWithout } from '../needs.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterAll(killTerminals);

describe.skipIf(skipWithout('tmux', whyNoTmux()))('passphrase prompt on a terminal', () => {
  it('init asks twice on the terminal even with stdin piped; the keyring opens with what was typed', async () => {
    const home = await makeHome();
    const env = testEnv({ HUSH_HOME: home });
    const t = await terminal(`echo 'this is stdin' | node ${BIN} init --name tty`, env);
    await t.waitFor(/New passphrase/);
    await t.type('typed secret');
    await t.waitFor(/Repeat the passphrase/);
    await t.type('typed secret');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain('created identity tty');
    expect(s).not.toContain('typed secret');
    const probe = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'typed secret', HUSH_NEW_PASSPHRASE: 'x' } });
    expect(probe.exitCode).toBe(0);
  });

  it('three mismatched confirmations exit 3 and write nothing; unlock prompts on the terminal', async () => {
    const home = await makeHome();
    const env = testEnv({ HUSH_HOME: home });
    const t = await terminal(`node ${BIN} init --name tty2 < /dev/null`, env);
    for (let round = 1; round <= 3; round++) {
      await t.waitFor(round === 1 ? /New passphrase/ : new RegExp(`(the two passphrases differ; try again[\\s\\S]*){${round - 1}}New passphrase`));
      await t.type('one long enough passphrase');
      await t.waitFor(new RegExp(`(Repeat the passphrase[\\s\\S]*){${round}}`));
      await t.type('another long passphrase');
    }
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=3/);
    expect(s).toContain('hush: error: the two passphrases differ (3 tries)');
    expect(await fsp.readdir(home)).toEqual([]);

    expect((await hush(['init', '--name', 'tty2'], { home, env: { HUSH_PASSPHRASE: 'right' } })).exitCode).toBe(0);
    const u = await terminal(`echo piped | HUSH_NEW_PASSPHRASE=right node ${BIN} passwd`, env);
    await u.waitFor(/Passphrase for tty2/);
    await u.type('right');
    const s2 = await u.waitFor(/EXIT=\d+/);
    expect(s2).toMatch(/EXIT=0/);
    expect(s2).toContain('passphrase changed for tty2');
  });

  it('colours a terminal unless NO_COLOR or --no-color', async () => {
    const home = await makeHome();
    expect((await hush(['init', '--name', 'colour'], { home, env: { HUSH_PASSPHRASE: 'pw' } })).exitCode).toBe(0);
    const env = testEnv({ HUSH_HOME: home, NO_COLOR: undefined, TERM: 'xterm-256color' });
    const coloured = await (await terminal(`node ${BIN} whoami`, env)).waitFor(/EXIT=\d+/, true);
    expect(coloured).toContain('\x1b[');
    const plain = await (await terminal(`node ${BIN} whoami --no-color`, env)).waitFor(/EXIT=\d+/, true);
    expect(plain).toContain('fingerprint');
    expect(plain).not.toContain('\x1b[');
    const noColor = await (await terminal(`NO_COLOR=1 node ${BIN} whoami`, env)).waitFor(/EXIT=\d+/, true);
    expect(noColor).not.toContain('\x1b[');
  });
});
