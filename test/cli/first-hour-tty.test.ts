/**
 * The first hour on a real terminal (tmux): the next step after init and register, "no new
 * messages" from an empty pull, and send saying it reads the terminal. None of these lines
 * reach a pipe or --json (checked through execa beside them). Needs tmux: fails in CI
 * (CI=true) when it is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { ENV, newUser, type TestUser } from './messaging-helpers.js';
import { hasTmux, killTerminals, terminal } from './tmux.js';

const run = hasTmux() || process.env.CI === 'true';

let relay: RelayProc;
let bob: TestUser;

beforeAll(async () => {
  if (!run) return;
  relay = await startRelayProcess();
  bob = await newUser('bob', relay.url);
});

afterAll(async () => {
  await killTerminals();
  await relay?.stop();
  cleanupTmp();
});

describe.skipIf(!run)('on a terminal', () => {
  it('init and register say the next step on a terminal, not on a pipe', async () => {
    const home = await makeHome();
    const env = testEnv({ HUSH_HOME: home, ...ENV });
    const t = await terminal(`node ${BIN} init --name carol && node ${BIN} register --relay ${relay.url}`, env);
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toMatch(/created identity carol[\s\S]*next: hush register --relay ws:\/\/HOST:PORT/);
    expect(s).toMatch(/registered carol on ws:\/\/[\s\S]*next: hush send NAME "text" to write to someone, hush listen \(or hush pull\) to read/);

    const piped = await hush(['init', '--name', 'dave'], { home: await makeHome(), env: ENV });
    expect(piped.exitCode).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('an empty pull says "no new messages" on a terminal; nothing on a pipe or with --json', async () => {
    const t = await terminal(`node ${BIN} pull`, testEnv({ HUSH_HOME: bob.home, ...ENV }));
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain('no new messages');
    expect(await bob.run(['pull'])).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const j = await terminal(`node ${BIN} pull --json`, testEnv({ HUSH_HOME: bob.home, ...ENV }));
    const sj = await j.waitFor(/EXIT=\d+/);
    expect(sj).toMatch(/EXIT=0/);
    expect(sj).not.toContain('no new messages');
  });

  it('send with no text on a terminal says to type the message and end with Ctrl-D, then sends it', async () => {
    const alice = await newUser('alice', relay.url);
    const t = await terminal(`node ${BIN} send bob`, testEnv({ HUSH_HOME: alice.home, ...ENV }));
    await t.waitFor(/type the message, end with Ctrl-D/);
    await t.type('typed on the terminal');
    await t.keys('C-d');
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toContain('sent 1 message to bob');
    const p = await bob.run(['pull']);
    expect(p.stdout).toMatch(/alice: typed on the terminal\n$/);

    const piped = await alice.run(['send', 'bob'], { input: 'from a pipe' });
    expect(piped.exitCode).toBe(0);
    expect(piped.stderr).not.toContain('Ctrl-D');
  });
});
