/**
 * Local files under attack or failure (issue 6, part 4): a corrupted keyring (truncated at many
 * points, bytes flipped), a keyring or home readable by others, a corrupted history database,
 * and a disk that fills up (a 4 MiB tmpfs when this machine lets us mount one) or a write that
 * fails (RLIMIT_FSIZE via `ulimit -f`, EFBIG) while `hush pull` stores mail. Each gives one
 * clear `hush: error:` line (plus a hint), no stack trace, and no partial state: the keyring is
 * untouched, mail that could not be stored stays on the relay and arrives, once, later.
 */
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from '../../src/crypto/nacl.js';
import { BIN, hush, type HushResult, jsonLines, makeHome, ROOT, testEnv } from '../cli/helpers.js';
import { skipWithout } from '../needs.js';
import { cleanupTmp, figure, type RelayProc, startRelayProcess } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const PASS = 'hostile local pass';
const env = { HUSH_PASSPHRASE: PASS };

let relay: RelayProc;
const mounts: string[] = [];
beforeAll(async () => {
  relay = await startRelayProcess();
});
afterAll(async () => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  expect(await relay.stop()).toBe(0);
  cleanupTmp();
});

/** One clear error: `hush: error: …` first, an optional hint, nothing else (no stack trace). */
function clearError(r: HushResult, what: string): void {
  expect(r.exitCode, `${what}: ${r.stderr}`).not.toBe(0);
  expect(r.stderr, what).toMatch(/^hush: error: \S/m);
  expect(r.stderr, what).not.toMatch(/\n\s+at |TypeError|SqliteError|undefined/);
  const lines = r.stderr
    .trimEnd()
    .split('\n')
    .filter((l) => !l.startsWith('hush: warning:'));
  expect(lines.length, `${what}: ${r.stderr}`).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1], what).toMatch(/^hush: hint: /);
}

async function user(name: string, home?: string): Promise<string> {
  const h = home ?? (await makeHome(`hush-local-${name}-`));
  const i = await hush(['init', '--name', name], { home: h, env });
  expect(i.exitCode, i.stderr).toBe(0);
  const r = await hush(['register', '--relay', relay.url], { home: h, env });
  expect(r.exitCode, r.stderr).toBe(0);
  return h;
}

describe('a corrupted keyring', () => {
  it('truncated at many points or with bytes flipped: a clear error, never a crash, never a wrong identity', async () => {
    const home = await user(`kr${Date.now() % 1000}`);
    const file = path.join(home, 'keyring.json');
    const orig = await fsp.readFile(file);
    const cuts = [0, 1, 50, Math.floor(orig.length / 2), orig.length - 2, orig.length - 1];
    const rnd = randomBytes(24);
    const flips = Array.from({ length: 12 }, (_, i) => ((rnd[2 * i]! << 8) | rnd[2 * i + 1]!) % orig.length);
    let tried = 0;
    const check = async (data: Buffer, what: string): Promise<void> => {
      await fsp.writeFile(file, data, { mode: 0o600 });
      const r = await hush(['history', '--json'], { home, env });
      tried++;
      // A flip inside insignificant JSON whitespace or an unread field may leave it usable;
      // then it must still be *this* identity with its history, not some other state.
      if (r.exitCode === 0) return;
      clearError(r, what);
    };
    for (const n of cuts) await check(orig.subarray(0, n), `truncated to ${n}`);
    for (const at of flips) {
      const c = Buffer.from(orig);
      c[at] = c[at]! ^ 0x20;
      await check(c, `byte ${at} flipped`);
    }
    // The byte a CI run once drew at random: the version's key damaged is a corrupt file.
    await check(Buffer.from(orig.toString('utf8').replace('"v": 1', '"V": 1')), 'version key flipped');
    await check(Buffer.from('{"v":99}'), 'unknown version');
    await check(Buffer.from(randomBytes(512)), 'random bytes');
    await fsp.writeFile(file, orig);
    expect((await hush(['history', '--json'], { home, env })).exitCode).toBe(0);
    figure('corrupted keyring cases', tried);
  });

  it('a keyring readable by others is refused with the chmod hint; a home open to others gets a warning', async () => {
    const home = await user('perm');
    const file = path.join(home, 'keyring.json');
    await fsp.chmod(file, 0o644);
    const r = await hush(['pull'], { home, env });
    clearError(r, 'keyring 0644');
    expect(r.stderr).toMatch(/accessible by other users/);
    expect(r.stderr).toContain(`hush: hint: chmod 600 ${file}`);
    await fsp.chmod(file, 0o600);
    await fsp.chmod(home, 0o755);
    const w = await hush(['pull'], { home, env });
    expect(w.exitCode).toBe(0);
    expect(w.stderr).toMatch(/^hush: warning: .*accessible by other users.*chmod 700/m);
    await fsp.chmod(home, 0o700);
  });
});

describe('a corrupted history database', () => {
  it('gives a clear error for each kind of damage, leaves the keyring untouched, and works again once restored', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    expect((await hush(['send', 'bob', 'before the damage'], { home: alice, env })).exitCode).toBe(0);
    expect((await hush(['pull'], { home: bob, env })).exitCode).toBe(0);
    const db = path.join(bob, 'hush.db');
    const keyring = await fsp.readFile(path.join(bob, 'keyring.json'));
    // Close state: no WAL left behind by the last command.
    const orig = await fsp.readFile(db);
    const damage: [string, () => Promise<void>][] = [
      ['emptied', () => fsp.writeFile(db, '')],
      ['truncated to half', () => fsp.writeFile(db, orig.subarray(0, Math.floor(orig.length / 2)))],
      ['header overwritten', () => fsp.writeFile(db, Buffer.concat([Buffer.from(randomBytes(100)), orig.subarray(100)]))],
      ['not a database', () => fsp.writeFile(db, 'this is not a database\n'.repeat(100))],
      ['every page scrambled after the first', () => fsp.writeFile(db, Buffer.concat([orig.subarray(0, 4096), Buffer.from(randomBytes(orig.length - 4096))]))],
      [
        'a directory',
        async () => {
          await fsp.rm(db);
          await fsp.mkdir(db);
        },
      ],
    ];
    for (const [what, doIt] of damage) {
      await doIt();
      for (const cmd of [['history', '--json'], ['pull']]) {
        const r = await hush(cmd, { home: bob, env });
        if (what === 'emptied' && r.exitCode === 0) {
          // SQLite takes a zero-length file for a new database: hush starts a fresh, empty store
          // (history and pins are gone, as the file's content is). Nothing is invented.
          expect(r.stdout, `${what}: hush ${cmd[0]}`).toBe('');
          continue;
        }
        clearError(r, `${what}: hush ${cmd[0]}`);
      }
      expect(await fsp.readFile(path.join(bob, 'keyring.json'))).toEqual(keyring);
      await fsp.rm(db, { recursive: true, force: true });
      for (const f of ['hush.db-wal', 'hush.db-shm', 'hush.db-journal']) await fsp.rm(path.join(bob, f), { force: true });
      await fsp.writeFile(db, orig, { mode: 0o600 });
    }
    const h = await hush(['history', 'alice', '--json'], { home: bob, env });
    expect(h.exitCode, h.stderr).toBe(0);
    expect(jsonLines(h.stdout).map((m) => m.body)).toEqual(['before the damage']);
    figure('corrupted history database cases', damage.length * 2);
  });
});

/** Runs hush with file writes limited to `kib` KiB (RLIMIT_FSIZE; SIGXFSZ ignored, so writes fail with EFBIG). */
async function hushFsizeLimited(home: string, args: string[], kib: number): Promise<HushResult> {
  const script = `trap '' XFSZ; ulimit -f ${kib}; exec "$0" "$@"`;
  const r = await execa('bash', ['-c', script, process.execPath, BIN, ...args], {
    env: testEnv({ HUSH_HOME: home, ...env }),
    extendEnv: false,
    cwd: ROOT,
    reject: false,
    detached: true,
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

async function waiting(home: string): Promise<number> {
  // What the relay still holds for this user: hush pull --json on a copy of the home would ack, so ask the store.
  const { unlock } = await import('../../src/store/keyring-store.js');
  const { hushPaths } = await import('../../src/store/paths.js');
  const { RelayClient } = await import('../../src/client/relay-client.js');
  const { signDetached } = await import('../../src/crypto/nacl.js');
  const { identity } = await unlock(hushPaths(home), { env });
  const c = await RelayClient.connect(relay.url, { signPk: identity.signPk, sign: (m) => signDetached(m, identity.signSk) });
  try {
    let n = 0;
    let after = 0;
    for (;;) {
      const { items, more } = await c.pull({ after, limit: 500 });
      n += items.length;
      if (items.length) after = items[items.length - 1]!.seq;
      if (!more) return n;
    }
  } finally {
    await c.close();
  }
}

/** Storing mail fails (`fail` runs the pull in the failing condition); afterwards it all arrives, once. */
async function failingStoreScenario(
  label: string,
  u: { bob: string; bobName: string; alice: string; aliceName: string },
  fail: () => Promise<HushResult>,
  heal: () => Promise<void>,
): Promise<void> {
  const { bob, alice } = u;
  const N = 150;
  const bodies = Array.from({ length: N }, (_, i) => `${label} ${i} ` + 'z'.repeat(2000));
  const s = await hush(['send', u.bobName, '--lines'], { home: alice, env, input: bodies.join('\n') + '\n' });
  expect(s.exitCode, s.stderr).toBe(0);
  const before = await hush(['history', u.aliceName, '--json', '--limit', '100000'], { home: bob, env });
  const r = await fail();
  clearError(r, label);
  figure(`${label}: the error`, r.stderr.trim().split('\n').join(' / '));
  // Nothing was acked that was not stored: what is not in history is still on the relay.
  const mid = await hush(['history', u.aliceName, '--json', '--limit', '100000'], { home: bob, env });
  expect(mid.exitCode, mid.stderr).toBe(0);
  const stored = jsonLines(mid.stdout).length - jsonLines(before.stdout).length;
  expect(stored + (await waiting(bob))).toBeGreaterThanOrEqual(N);
  await heal();
  const p = await hush(['pull', '--json'], { home: bob, env });
  expect(p.exitCode, p.stderr).toBe(0);
  const h = await hush(['history', u.aliceName, '--json', '--limit', '100000'], { home: bob, env });
  const got = jsonLines(h.stdout)
    .map((m) => String(m.body))
    .filter((b) => b.startsWith(`${label} `));
  expect(got.length).toBe(N);
  expect(new Set(got)).toEqual(new Set(bodies));
  expect(await waiting(bob)).toBe(0);
}

describe('a disk that fills up while storing', () => {
  const noTmpfs = ((): string | undefined => {
    if (os.platform() !== 'linux') return `not Linux (${os.platform()})`;
    if (process.getuid?.() !== 0) return 'not root: mounting a tmpfs needs root';
    const d = spawnSync('mktemp', ['-d']).stdout.toString().trim();
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d]);
    if (m.status === 0) spawnSync('umount', [d]);
    spawnSync('rmdir', [d]);
    return m.status === 0 ? undefined : `mount -t tmpfs failed: ${String(m.stderr ?? m.error?.message ?? '').trim()}`;
  })();

  it.skipIf(skipWithout('a tmpfs mount', noTmpfs))('a full tmpfs under hush pull: a clear error, nothing acked unstored; after freeing space everything arrives once', async () => {
    const mnt = await makeHome('hush-tmpfs-');
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]).status).toBe(0);
    mounts.push(mnt);
    const bob = path.join(mnt, 'home');
    await fsp.mkdir(bob, { mode: 0o700 });
    await user('bobfull', bob);
    const alice = await user('alicefull');
    expect((await hush(['send', 'bobfull', 'pin'], { home: alice, env })).exitCode).toBe(0);
    expect((await hush(['pull'], { home: bob, env })).exitCode).toBe(0);
    // Fill the disk up to ~96 KiB free.
    const filler = path.join(mnt, 'filler');
    const free = (): number => {
      const s = spawnSync('df', ['-k', '--output=avail', mnt]).stdout.toString().trim().split('\n')[1]!;
      return Number(s) * 1024;
    };
    await fsp.writeFile(filler, Buffer.alloc(Math.max(0, free() - 96 * 1024)));
    figure('tmpfs free before the pull (bytes)', free());
    await failingStoreScenario(
      'disk full',
      { bob, bobName: 'bobfull', alice, aliceName: 'alicefull' },
      () => hush(['pull', '--json'], { home: bob, env }),
      () => fsp.rm(filler),
    );
  });

  it('a write that fails with EFBIG (ulimit -f) under hush pull: a clear error, nothing acked unstored; later everything arrives once', async () => {
    const bob = await user('bobefbig');
    const alice = await user('aliceefbig');
    expect((await hush(['send', 'bobefbig', 'pin'], { home: alice, env })).exitCode).toBe(0);
    expect((await hush(['pull'], { home: bob, env })).exitCode).toBe(0);
    const sizes = ['hush.db', 'hush.db-wal'].map((f) => (existsSync(path.join(bob, f)) ? statSync(path.join(bob, f)).size : 0));
    const kib = Math.ceil(Math.max(...sizes) / 1024) + 64;
    const seen: string[] = [];
    await failingStoreScenario(
      'efbig',
      { bob, bobName: 'bobefbig', alice, aliceName: 'aliceefbig' },
      async () => {
        const r = await hushFsizeLimited(bob, ['pull', '--json'], kib);
        seen.push(r.stderr);
        return r;
      },
      async () => undefined,
    );
    expect(seen[0]).toMatch(/hint: .*free space/);
  });
});
