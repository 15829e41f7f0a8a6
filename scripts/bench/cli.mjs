// Rows that run the real CLI (node bin/hush.js) in throwaway homes against a real relay child.
// The homes are written with the Argon2id floor (HUSH_KDF_PARAMS=m=8192,t=1,p=1), so every
// command pays a floor unlock (~10-30 ms; the unlock row measures it) instead of the 0.25-1 s
// of the defaults: "a cached unlock so Argon2 is not the measure".
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BENCH_RELAY_FLAGS, dist, fmtMs, fmtRate, median, now, ROOT, run, startServer, stopChild } from './lib.mjs';

const HUSH = path.join(ROOT, 'bin/hush.js');
const NODE = process.execPath;
const FLOOR = 'm=8192,t=1,p=1';
const PASS = 'correct horse battery staple bench';

const RELAY_FLAGS = BENCH_RELAY_FLAGS;

let world;
/** One relay and two registered homes (alice, bob), shared by the CLI rows of a run. */
export async function getWorld() {
  if (world) return world;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-cli-'));
  const relay = await startServer(NODE, [path.join(ROOT, 'bin/hush-relay.js'), '--data', path.join(tmp, 'relay'), ...RELAY_FLAGS]);
  const env = { ...process.env, HUSH_PASSPHRASE: PASS, HUSH_KDF_PARAMS: FLOOR, HUSH_RELAY: relay.url, NO_COLOR: '1' };
  delete env.HUSH_HOME;
  const home = (name) => path.join(tmp, name);
  const hush = async (who, args, o = {}) => {
    const r = await run(NODE, [...(o.node ?? []), HUSH, '--home', home(who), ...args], { env, ...o });
    if (r.code !== 0) throw new Error(`hush ${args.join(' ')} (${who}) exited ${r.code}: ${r.stderr.trim().split('\n').slice(0, 2).join(' / ')}`);
    return r;
  };
  for (const who of ['alice', 'bob']) {
    await hush(who, ['init', '--name', who]);
    await hush(who, ['register']);
  }
  // First contact both ways (TOFU pins), so the measured runs are the steady state.
  await hush('alice', ['send', 'bob', 'hello bob']);
  await hush('bob', ['pull']);
  await hush('bob', ['send', 'alice', 'hello alice']);
  await hush('alice', ['pull']);
  world = {
    tmp,
    relay,
    env,
    hush,
    home,
    stop: async () => {
      await stopChild(relay.child);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  return world;
}

export async function stopWorld() {
  await world?.stop();
  world = undefined;
}

/** Does the built CLI have this command? (`hush help` lists them.) */
function hasCommand(name) {
  const r = spawnSync(NODE, [HUSH, '--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return new RegExp(`^\\s+${name}\\b`, 'm').test(r.stdout ?? '');
}

const notAvailable = (cmd) => ({ baseline: '—', ours: '—', target: '—', skipped: `not available (no \`hush ${cmd}\` yet)` });

/** Wall time of spawning each command, interleaved, `n` times; medians (ms). */
async function spawnTimes(cmds, n) {
  const per = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
  for (let i = 0; i < n + 2; i++) {
    for (const [k, [cmd, args]] of Object.entries(cmds)) {
      const r = await run(cmd, args, { stdout: 'ignore' });
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      if (i >= 2) per[k].push(r.ms); // two warm-up rounds (page cache)
    }
  }
  return Object.fromEntries(Object.entries(per).map(([k, v]) => [k, median(v)]));
}

export async function cliHelp(opt) {
  const t = await spawnTimes({ node: [NODE, ['-e', '0']], hush: [NODE, [HUSH, '--help']] }, opt.quick ? 5 : 25);
  const ratio = t.hush / t.node;
  return {
    baseline: `${fmtMs(t.node)} (\`node -e 0\`)`,
    ours: `${fmtMs(t.hush)} (\`node bin/hush.js --help\`)`,
    ratio,
    pass: ratio <= 1.5,
    target: '≤ 1.5x',
    values: t,
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const has = (b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0;
/** Waits (up to 10 s) until something listens on 127.0.0.1:PORT. */
export async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Debian ships twistd as twistd3. */
export const twistd = () => ['twistd', 'twistd3'].find(has);
export function haveWormhole() {
  return has('wormhole') && twistd() !== undefined && spawnSync(twistd(), ['--help'], { encoding: 'utf8' }).stdout?.includes('wormhole-mailbox');
}

/** magic-wormhole with a local mailbox server: median wall time of send --text + receive. */
async function wormholeTimes(n, install) {
  if (!haveWormhole() && install) {
    process.stderr.write('bench: installing magic-wormhole with apt-get …\n');
    spawnSync(
      'sh',
      [
        '-c',
        'apt-get install -y magic-wormhole python3-magic-wormhole-mailbox-server >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y magic-wormhole python3-magic-wormhole-mailbox-server >/dev/null 2>&1)',
      ],
      { stdio: 'inherit' },
    );
  }
  if (!haveWormhole()) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-wormhole-'));
  const { spawn } = await import('node:child_process');
  const server = spawn(
    twistd(),
    ['--nodaemon', '--pidfile=', `--logfile=${path.join(dir, 'log')}`, 'wormhole-mailbox', `--port=tcp:${port}:interface=127.0.0.1`, `--channel-db=${path.join(dir, 'db.sqlite')}`],
    { cwd: dir, stdio: 'ignore' },
  );
  try {
    const relayUrl = `ws://127.0.0.1:${port}/v1`;
    await waitForPort(port); // the mailbox server listens
    const times = [];
    for (let i = 0; i < n + 1; i++) {
      const code = `${7 + i}-bench-word${i}`;
      const t0 = now();
      const [s, r] = await Promise.all([
        run('wormhole', ['--relay-url', relayUrl, 'send', '--text', `hello ${i}`, '--code', code]),
        run('wormhole', ['--relay-url', relayUrl, 'receive', '--only-text', code]),
      ]);
      if (s.code !== 0 || r.code !== 0) throw new Error(`wormhole failed: ${s.stderr || r.stderr}`);
      if (i > 0) times.push(now() - t0);
    }
    return median(times);
  } finally {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` rounds (plus one warm-up) of alice's send then bob's pull; the median (ms). */
async function sendPullTimes(w, n, tag) {
  const times = [];
  for (let i = 0; i < n + 1; i++) {
    const t0 = now();
    await w.hush('alice', ['send', 'bob', `${tag} ${i}`]);
    const p = await w.hush('bob', ['pull']);
    if (!p.stdout.includes(`${tag} ${i}`)) throw new Error('bob did not get the message');
    if (i > 0) times.push(now() - t0);
  }
  return median(times);
}

/** The row for `ours` (ms) against magic-wormhole measured now. */
async function againstWormhole(ours, label, opt) {
  let base;
  try {
    base = await wormholeTimes(opt.quick ? 1 : 3, opt.wormhole);
  } catch (e) {
    return {
      baseline: `wormhole failed: ${String(e.message).split('\n')[0]}`,
      ours: `${fmtMs(ours)} (send + pull)`,
      target: '< 1/3 of wormhole',
      skipped: 'baseline failed',
      values: { ours },
    };
  }
  if (base === undefined) {
    return {
      baseline: 'magic-wormhole not installed (run with --wormhole)',
      ours: `${fmtMs(ours)} (send + pull)`,
      target: '< 1/3 of wormhole',
      skipped: 'skipped (not installed)',
      values: { ours },
    };
  }
  const ratio = ours / base;
  return {
    baseline: `${fmtMs(base)} (wormhole send --text + receive, local mailbox)`,
    ours: `${fmtMs(ours)} (${label})`,
    ratio,
    pass: ratio < 1 / 3,
    target: '< 0.33x',
    values: { ours, base },
  };
}

export async function e2e(opt) {
  const w = await getWorld();
  const ours = await sendPullTimes(w, opt.quick ? 2 : 7, 'end to end');
  return againstWormhole(ours, 'hush send + hush pull, floor Argon2', opt);
}

/**
 * The same round through a `hush daemon` on each side (issue 17): the CLI hands send and pull
 * to the daemon of its home, so neither command unlocks, derives a key or dials the relay.
 */
export async function e2eDaemon(opt) {
  if (!hasCommand('daemon')) return notAvailable('daemon');
  const w = await getWorld();
  const daemons = [];
  try {
    for (const who of ['alice', 'bob']) daemons.push(await startServer(NODE, [HUSH, '--home', w.home(who), 'daemon'], { env: w.env }));
    const ours = await sendPullTimes(w, opt.quick ? 2 : 7, 'through the daemons');
    return await againstWormhole(ours, "hush send + hush pull, each through its home's daemon", opt);
  } finally {
    for (const d of daemons) await stopChild(d.child);
  }
}

const LINES = 10_000;
let linesSent = false;

export async function sendLines(opt) {
  const w = await getWorld();
  const n = opt.lines ?? (opt.quick ? 1000 : LINES);
  const input = Array.from({ length: n }, (_, i) => `line ${i} of the bench: the quick brown fox jumps over the lazy dog`).join('\n') + '\n';
  const r = await w.hush('alice', ['send', 'bob', '--lines'], { input });
  linesSent = n;
  const rate = n / (r.ms / 1000);
  return {
    baseline: '—',
    ours: `${fmtRate(rate)} (${n.toLocaleString('en-US')} lines in ${fmtMs(r.ms)}, whole command)`,
    ratio: undefined,
    pass: rate >= 2000,
    target: '≥ 2,000 msg/s',
    values: { rate, ms: r.ms, n },
  };
}

export async function pull10k(opt) {
  const w = await getWorld();
  if (!linesSent) await sendLines(opt);
  const n = linesSent;
  linesSent = false;
  const r = await w.hush('bob', ['pull'], { maxOut: 64e6 }); // every line counted (run() keeps 1 MB by default)
  const got = r.stdout.split('\n').filter((l) => l.includes('of the bench')).length;
  if (got !== n) throw new Error(`pull showed ${got} of ${n} messages`);
  const rate = n / (r.ms / 1000);
  return {
    baseline: '—',
    ours: `${fmtRate(rate)} (${n.toLocaleString('en-US')} in ${fmtMs(r.ms)}, whole command incl. receipts)`,
    ratio: undefined,
    pass: rate >= 5000,
    target: '≥ 5,000 msg/s',
    values: { rate, ms: r.ms, n },
  };
}

export async function history(opt) {
  if (!hasCommand('history')) return notAvailable('history');
  const w = await getWorld();
  const n = opt.quick ? 10_000 : 100_000;
  // Seed alice's store directly (the same HushStore the CLI uses), then time the command.
  const { hushPaths } = await dist('src/store/paths.js');
  const { unlock } = await dist('src/store/keyring-store.js');
  const { HushStore } = await dist('src/store/db.js');
  const { randomBytes } = await dist('src/crypto/nacl.js');
  const u = await unlock(hushPaths(w.home('alice')), { env: w.env });
  const store = HushStore.open(w.home('alice'), u.identity.historyKey);
  try {
    const bob = store.findContactByName('bob');
    const have = store.countMessages();
    const t = Date.now() - n;
    for (let i = have; i < n; i += 5000) {
      const batch = Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({
        msgId: randomBytes(16),
        contactId: bob.id,
        direction: (i + j) % 2 ? 'in' : 'out',
        time: t + i + j,
        body: `history message ${i + j}: some ordinary text of a typical length`,
      }));
      store.addMessages(batch);
    }
  } finally {
    store.close();
  }
  const per = { node: [], hush: [] };
  const k = opt.quick ? 3 : 11;
  for (let i = 0; i < k + 1; i++) {
    const a = await run(NODE, ['-e', '0']);
    const b = await w.hush('alice', ['history', '--limit', '50']);
    if (i > 0) {
      per.node.push(a.ms);
      per.hush.push(b.ms);
    }
  }
  const base = median(per.node);
  const ours = median(per.hush);
  const ratio = ours / base;
  return {
    baseline: `${fmtMs(base)} (\`node -e 0\`)`,
    ours: `${fmtMs(ours)} (${n.toLocaleString('en-US')} stored, floor Argon2 included)`,
    ratio,
    pass: ratio <= 3,
    target: '≤ 3x',
    values: { base, ours },
  };
}

export async function unlockRow(opt) {
  const { argon2idKdf } = await dist('src/store/kdf.js');
  const { KDF_DEFAULT, KDF_FLOOR } = await dist('src/protocol/keyring-file.js');
  const salt = new Uint8Array(16);
  const pass = new TextEncoder().encode(PASS);
  const time = async (p, k) => {
    const xs = [];
    for (let i = 0; i < k + 1; i++) {
      const t0 = now();
      await argon2idKdf(pass, { alg: 'argon2id', ...p, salt });
      if (i > 0) xs.push(now() - t0);
    }
    return median(xs);
  };
  const k = opt.quick ? 2 : 5;
  const def = await time(KDF_DEFAULT, k);
  const floor = await time(KDF_FLOOR, k);
  // The whole `hush unlock` command at the defaults, in a fresh home.
  let cmd;
  if (!opt.quick) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-unlock-'));
    try {
      const env = { ...process.env, HUSH_PASSPHRASE: PASS, NO_COLOR: '1' };
      delete env.HUSH_KDF_PARAMS;
      execFileSync(NODE, [HUSH, '--home', tmp, 'init', '--name', 'carol'], { env, stdio: 'ignore' });
      const xs = [];
      for (let i = 0; i < 3; i++) xs.push((await run(NODE, [HUSH, '--home', tmp, 'unlock'], { env })).ms);
      cmd = median(xs);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const d = KDF_DEFAULT;
  return {
    baseline: `floor m=${KDF_FLOOR.m / 1024} MiB,t=${KDF_FLOOR.t}: ${fmtMs(floor)}`,
    ours: `Argon2id m=${d.m / 1024} MiB, t=${d.t}, p=${d.p}: ${fmtMs(def)}${cmd ? `; \`hush unlock\` ${fmtMs(cmd)}` : ''}`,
    ratio: undefined,
    pass: def >= 250 && def <= 1000,
    target: '0.25-1 s',
    values: { def, floor, cmd },
  };
}
