/**
 * chalk is loaded only when colour is really on: never for `--help`, a pipe or `--json`
 * (scripts pay nothing for it), and it is what colours a terminal. The real binary runs with
 * a `--require` preload that logs every package it requires (test/cli/module-log.ts); the
 * terminal cases run in tmux. Without tmux the terminal cases skip locally and fail in CI.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { requireLogger } from './module-log.js';
import { hasTmux, killTerminals, terminal } from './tmux.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterAll(killTerminals);

const ESC = '\x1b[';

async function homeWithIdentity(): Promise<string> {
  const home = await makeHome();
  const r = await hush(['init', '--name', 'paint'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
  expect(r.exitCode, r.stderr).toBe(0);
  return home;
}

describe('chalk off a terminal', () => {
  it('a pipe (data and an error) and --json never load chalk, even with colour allowed', async () => {
    const home = await homeWithIdentity();
    const cases: [string[], number][] = [
      [['whoami'], 0],
      [['whoami', '--json'], 0],
      [['whoami', '--bogus'], 2],
      [['whoami'], 2], // no keyring in an empty home: an error on stderr
    ];
    for (const [i, [args, code]] of cases.entries()) {
      const req = await requireLogger();
      const r = await hush(args, { home: i === 3 ? await makeHome() : home, env: { NO_COLOR: undefined, TERM: 'xterm-256color' }, nodeArgs: req.nodeArgs });
      expect(r.exitCode, args.join(' ') + r.stderr).toBe(code);
      expect(r.stdout + r.stderr, args.join(' ')).not.toContain(ESC);
      const requests = await req.requests();
      expect(requests, args.join(' ')).toContain('node:fs'); // the log works
      expect(requests, args.join(' ')).not.toContain('chalk');
    }
  });
});

describe.skipIf(!hasTmux() && process.env.CI !== 'true')('chalk on a terminal (tmux)', () => {
  it('colours a terminal with chalk; --help and --json on a terminal still do not load it', async () => {
    const home = await homeWithIdentity();
    const env = testEnv({ HUSH_HOME: home, NO_COLOR: undefined, TERM: 'xterm-256color' });
    const onTty = async (args: string): Promise<{ screen: string; requests: string[] }> => {
      const req = await requireLogger();
      const t = await terminal(`node --require ${req.preload} ${BIN} ${args}`, env);
      const screen = await t.waitFor(/EXIT=\d+/, true);
      return { screen, requests: await req.requests() };
    };

    const coloured = await onTty('whoami');
    expect(coloured.screen).toMatch(/EXIT=0/);
    expect(coloured.screen).toContain(ESC);
    expect(coloured.requests).toContain('chalk');

    const error = await onTty('whoami --bogus');
    expect(error.screen).toMatch(/EXIT=2/);
    expect(error.screen).toContain(`${ESC}31mhush: error:`); // chalk's red on stderr
    expect(error.requests).toContain('chalk');

    for (const args of ['--help', 'whoami --json', 'whoami --no-color']) {
      const r = await onTty(args);
      expect(r.screen, args).toMatch(/EXIT=0/);
      expect(
        r.screen
          .split(ESC)
          .map((part) => part.replace(/^[0-9;]*m/, ''))
          .join(''),
        args,
      ).toMatch(args === '--help' ? /help \[command\]/ : /paint/); // --help's last line (its top scrolls off a 40-row pane)
      expect(r.requests, args).toContain('node:fs');
      expect(r.requests, args).not.toContain('chalk');
    }
  });
});
