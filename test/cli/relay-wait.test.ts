/**
 * Waiting for a relay, through the real binary: a server that accepts TCP and never says a
 * word (a plain net server in this process) gets a status line on a terminal after a second
 * (tmux), erased when the wait ends, and none on a pipe or with --json; wss:// to a plain
 * ws:// relay is reported as a TLS mismatch, not as "is the relay running?". Needs tmux: fails
 * in CI (CI=true) when it is missing.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, closedPort, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { hasTmux, killTerminals, terminal } from './tmux.js';

const ENV = { HUSH_PASSPHRASE: 'pw' };
const tty = hasTmux() || process.env.CI === 'true';

let silent: net.Server;
let silentUrl: string;
const sockets = new Set<net.Socket>();
let accepted = 0;
let home: string;

beforeAll(async () => {
  silent = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentUrl = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  home = await makeHome();
  expect((await hush(['init', '--name', 'wait'], { home, env: ENV })).exitCode).toBe(0);
});

afterAll(async () => {
  await killTerminals();
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

describe('a relay that never greets', () => {
  it.skipIf(!tty)('shows "waiting for URL to greet" on a terminal, erased when the wait ends', async () => {
    const before = accepted;
    const t = await terminal(`node ${BIN} pull --relay ${silentUrl}`, testEnv({ HUSH_HOME: home, ...ENV }));
    const waiting = await t.waitFor(/waiting for ws:\/\/127\.0\.0\.1:\d+ to greet/);
    expect(waiting).toContain(`waiting for ${silentUrl} to greet`);
    expect(accepted).toBeGreaterThan(before);
    for (const s of sockets) s.destroy(); // the server hangs up: hush stops waiting
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=4/);
    expect(s).toMatch(/hush: error: /);
    expect(s).not.toContain('to greet'); // the status line was erased
  });

  it.skipIf(!tty)('shows nothing on a pipe or with --json, up to the 15 s timeout (exit 4)', async () => {
    const piped = hush(['pull', '--relay', silentUrl], { home, env: ENV });
    const t = await terminal(`node ${BIN} pull --json --relay ${silentUrl}`, testEnv({ HUSH_HOME: home, ...ENV }));
    const r = await piped;
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe(`hush: error: the relay at ${silentUrl} did not greet within 15000 ms\nhush: hint: check the relay url\n`);
    const s = await t.waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=4/);
    expect(s).toContain('did not greet within 15000 ms');
    expect(s).not.toContain('waiting for');
  });
});

describe('--relay-timeout / HUSH_RELAY_TIMEOUT', () => {
  it('bounds the wait for a silent relay (exit 4), and a bad value is a usage error (exit 2)', async () => {
    const r = await hush(['pull', '--relay', silentUrl, '--relay-timeout', '300ms'], { home, env: ENV });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe(`hush: error: the relay at ${silentUrl} did not greet within 300 ms\nhush: hint: check the relay url\n`);
    const e = await hush(['pull', '--relay', silentUrl], { home, env: { ...ENV, HUSH_RELAY_TIMEOUT: '1' } });
    expect(e.stderr).toContain('did not greet within 1000 ms');
    const bad = await hush(['pull', '--relay', silentUrl, '--relay-timeout', 'soon'], { home, env: ENV });
    expect(bad).toMatchObject({ exitCode: 2, stdout: '' });
    expect(bad.stderr).toBe("hush: error: the relay timeout must be a duration from 100ms to 10m, not 'soon'\nhush: hint: e.g. --relay-timeout 30s\n");
  });
});

describe('a relay that cannot be reached', () => {
  it('says why in words (connection refused), exit 4', async () => {
    const port = await closedPort();
    const r = await hush(['register', '--relay', `ws://127.0.0.1:${port}`], { home, env: ENV });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe(
      `hush: error: cannot reach the relay at ws://127.0.0.1:${port}: connection refused (nothing listens on that port)\n` +
        'hush: hint: is the relay running? start one with hush relay, or check --relay / HUSH_RELAY\n',
    );
  });
});

describe('wss:// to a plain ws:// relay', () => {
  let relay: RelayProc;
  beforeAll(async () => {
    relay = await startRelayProcess();
  });
  afterAll(async () => {
    await relay?.stop();
    cleanupTmp();
  });

  it('says it is a TLS mismatch and suggests ws://, exit 4, nothing remembered', async () => {
    const wss = relay.url.replace(/^ws:/, 'wss:');
    const r = await hush(['register', '--relay', wss], { home, env: ENV });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe(
      `hush: error: the TLS handshake with ${wss} failed: the server there does not speak TLS\n` +
        `hush: hint: the relay speaks plain ws:// (hush relay has no TLS; put a TLS proxy in front of it for wss://), or the URL scheme is wrong: try ${relay.url}\n`,
    );
    expect(r.stderr).not.toContain('is the relay running');
    const who = await hush(['whoami', '--json'], { home });
    expect(JSON.parse(who.stdout)).toMatchObject({ relay: null });
  });
});
