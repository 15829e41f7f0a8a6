/**
 * Start-up failures of the real relay binaries (issue #11): a busy port, a privileged port, a
 * host that is not this machine's, a data directory that cannot be used, a damaged store. Each
 * is one `hush-relay: error:` line and one hint, a documented exit code, and no stack trace.
 * Also: the store is private from its first byte, whatever the umask.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { listenError } from '../../relay/server.js';
import { cleanupTmp, makeUser, registerUsers, seal, startRelayProcess, tmpDir } from './helpers.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });
afterAll(() => cleanupTmp());

const BIN = fileURLToPath(new URL('../../bin/hush-relay.js', import.meta.url));
const HUSH = fileURLToPath(new URL('../../bin/hush.js', import.meta.url));

/** Runs a relay binary that is expected to fail at start-up; returns its exit code and stderr. */
function failStart(args: string[], viaCli = false): { status: number | null; stderr: string; stdout: string } {
  const cmd = viaCli ? [HUSH, 'relay'] : [BIN];
  const r = spawnSync(process.execPath, [...cmd, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, HUSH_DEBUG: '' } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Exactly an error line and a hint line, nothing of Node's stack. */
function expectOneError(stderr: string, error: RegExp, hint: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^hush-relay: error: /);
  expect(lines[0]).toMatch(error);
  expect(lines[1]).toMatch(/^hush-relay: hint: /);
  expect(lines[1]).toMatch(hint);
  expect(stderr).not.toMatch(/^\s+at |node:events|Unhandled/m);
}

describe('relay start-up errors', () => {
  it('a port in use: one error line naming port and host, a hint, exit 2 (hush-relay and hush relay)', async () => {
    const first = await startRelayProcess();
    const port = new URL(first.url).port;
    for (const viaCli of [false, true]) {
      const r = failStart(['--port', port, '--data', tmpDir()], viaCli);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expectOneError(r.stderr, new RegExp(`^hush-relay: error: port ${port} on 127\\.0\\.0\\.1 is in use$`), /another relay.*--port 0/);
    }
    // the first relay is untouched
    const c = await makeUser().connect(first.url);
    await c.ping();
    await c.close();
    expect(await first.stop()).toBe(0);
  });

  it('a privileged port: exit 2 with a hint (run as an unprivileged user)', () => {
    // Linux: ports below net.ipv4.ip_unprivileged_port_start need privileges (some containers set it to 0).
    let first = 1024;
    try {
      first = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    } catch {
      // not Linux: the classic 1024
    }
    if (first === 0) {
      console.warn('relay-startup: no port is privileged on this machine (ip_unprivileged_port_start=0); the EACCES message is checked in process');
      expect(listenError(Object.assign(new Error('listen EACCES'), { code: 'EACCES' }), '127.0.0.1', 1)).toMatchObject({ code: 'RELAY_PORT_DENIED', exitCode: 2 });
      return;
    }
    // root may bind any port: run the relay as nobody (uid 65534) then, with a data directory it can write.
    const asRoot = process.getuid?.() === 0;
    const data = tmpDir();
    if (asRoot) chmodSync(data, 0o777);
    const r = spawnSync(process.execPath, [BIN, '--port', '1', '--data', join(data, 'relay')], {
      encoding: 'utf8',
      timeout: 20_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    expect(r.status, r.stderr).toBe(2);
    expectOneError(r.stderr, /^hush-relay: error: port 1 on 127\.0\.0\.1 needs privileges/, /below 1024.*--port 0/);
  });

  it('a --host that is not an address of this machine: exit 2', () => {
    for (const host of ['192.0.2.1', 'no-such-host.invalid']) {
      const r = failStart(['--port', '0', '--host', host, '--data', tmpDir()]);
      expect(r.status).toBe(2);
      expectOneError(r.stderr, new RegExp(`cannot listen on ${host.replace(/\./g, '\\.')}: it is not an address of this machine`), /--host 127\.0\.0\.1/);
    }
  });

  it('a --data that is a file, or lies under a file: exit 2, the file untouched', () => {
    const d = tmpDir();
    const file = join(d, 'plain');
    writeFileSync(file, 'keep me\n');
    for (const data of [file, join(file, 'relay')]) {
      const r = failStart(['--port', '0', '--data', data]);
      expect(r.status).toBe(2);
      expectOneError(r.stderr, /relay data directory .* \(not a directory\)$/, /--data/);
    }
    expect(statSync(file).size).toBe(8);
  });

  it('a --data whose relay.sqlite is not a SQLite store: exit 6, nothing served', () => {
    const d = tmpDir();
    writeFileSync(join(d, 'relay.sqlite'), 'this is not a database, it is a text file of some length\n');
    const r = failStart(['--port', '0', '--data', d]);
    expect(r.status).toBe(6);
    expect(r.stdout).toBe('');
    expectOneError(r.stderr, /relay\.sqlite is not a relay store/, /another directory/);
  });

  it('creates the data directory 0700 and relay.sqlite, -wal, -shm 0600 even under umask 000', async () => {
    const data = join(tmpDir(), 'fresh');
    // The relay runs under umask 000: any file created with the default mode would be 0644/0666.
    const relay = await startRelayProcess({ dataDir: data, umask: 0o000 });
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const c = await alice.connect(relay.url);
    await c.send(bob.id.signPk, seal(alice, bob, 'mode check'));
    expect(statSync(data).mode & 0o777).toBe(0o700);
    const files = ['relay.sqlite', 'relay.sqlite-wal', 'relay.sqlite-shm'];
    for (const f of files) {
      expect(existsSync(join(data, f)), f).toBe(true);
      expect((statSync(join(data, f)).mode & 0o777).toString(8), f).toBe('600');
    }
    await c.close();
    expect(await relay.stop()).toBe(0);
  });

  it('tightens an existing store that others can read', async () => {
    const data = tmpDir();
    const first = await startRelayProcess({ dataDir: data });
    expect(await first.stop()).toBe(0);
    chmodSync(join(data, 'relay.sqlite'), 0o644);
    const again = await startRelayProcess({ dataDir: data });
    expect((statSync(join(data, 'relay.sqlite')).mode & 0o777).toString(8)).toBe('600');
    expect(await again.stop()).toBe(0);
  });
});
