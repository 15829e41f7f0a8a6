// Rows of whole-command group sends (issue 14): `hush send @NAME TEXT` to a group of 10 and of 50
// real homes on one real relay, the CLI spawned as a user runs it (unlock at the Argon2id floor,
// connect, seal one copy per member in its v2 session, queue them in one transaction, send them
// pipelined, exit). Baseline, same run and interleaved: `hush send NAME TEXT` to one member.
// Reported, medians: the command's wall time; its CPU time (the hush process's user + system,
// printed by cpu-preload.mjs at exit) plus the relay process's (from /proc, 10 ms ticks) during
// it, which on a loaded shared machine says what the command costs far better than the wall
// time; per member (CPU / members) and the marginal CPU of one more member
// ((group − pair) / (members − 1)), which is what fan-out adds.
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_RELAY_FLAGS, fmtMs, median, ROOT, run, startServer, stopChild } from './lib.mjs';

const HUSH = path.join(ROOT, 'bin/hush.js');
const NODE = process.execPath;
const FLOOR = 'm=8192,t=1,p=1';
const PASS = 'correct horse battery staple bench';
const MEMBERS = 50;

let world;
let making;
/** One relay, alice and MEMBERS member homes; alice holds @g10 (10 members) and @g50 (50). */
function getGroupWorld() {
  making ??= makeGroupWorld();
  return making;
}

async function makeGroupWorld() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-groupcli-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const relay = await startServer(NODE, [path.join(ROOT, 'bin/hush-relay.js'), '--data', path.join(tmp, 'relay'), ...BENCH_RELAY_FLAGS, '--names-per-addr', '1000']); // 51 names from one address
  const env = { ...process.env, HUSH_PASSPHRASE: PASS, HUSH_KDF_PARAMS: FLOOR, HUSH_RELAY: relay.url, NO_COLOR: '1', HUSH_NO_DAEMON: '1' };
  delete env.HUSH_HOME;
  const hush = async (who, args) => {
    const r = await run(NODE, [HUSH, '--home', path.join(tmp, who), ...args], { env });
    if (r.code !== 0) throw new Error(`hush ${args.join(' ')} (${who}) exited ${r.code}: ${r.stderr.trim().split('\n').slice(0, 2).join(' / ')}`);
    return r;
  };
  const names = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);
  const inBatches = async (list, n, fn) => {
    for (let i = 0; i < list.length; i += n) await Promise.all(list.slice(i, i + n).map(fn));
  };
  await inBatches(['alice', ...names], 4, async (who) => {
    await hush(who, ['init', '--name', who]);
    await hush(who, ['register']);
  });
  // Each member writes to alice first (v2 sessions from their prekeys; alice pins them on pull).
  await inBatches(names, 4, (who) => hush(who, ['send', 'alice', 'hi']));
  await hush('alice', ['pull']);
  await hush('alice', ['group', 'create', 'g10', ...names.slice(0, 10)]);
  await hush('alice', ['group', 'create', 'g50', ...names]);
  await hush('alice', ['send', '@g50', 'warm-up']);
  await hush('alice', ['send', 'm0', 'warm-up']);
  const relayCpuMs = () => {
    const f = readFileSync(`/proc/${relay.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
  };
  /** One measured command: wall ms, the hush process's CPU ms, the relay's CPU ms meanwhile. */
  const measure = async (args) => {
    const r0 = relayCpuMs();
    const r = await run(NODE, ['--import', pathToFileURL(path.join(ROOT, 'scripts/bench/cpu-preload.mjs')).href, HUSH, '--home', path.join(tmp, 'alice'), ...args], { env });
    if (r.code !== 0) throw new Error(`hush ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n')[0]}`);
    const cpu = /HUSH_BENCH_CPU_US (\d+)/.exec(r.stderr);
    return { wall: r.ms, cpu: cpu ? Number(cpu[1]) / 1000 : NaN, relay: relayCpuMs() - r0 };
  };
  world = {
    measure,
    hush,
    stop: async () => {
      await stopChild(relay.child);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return world;
}

export async function stopGroupWorld() {
  await world?.stop();
  world = undefined;
  making = undefined;
}

function groupSendRow(n) {
  return async (opt) => {
    const w = await getGroupWorld();
    const rounds = opt.quick ? 2 : 7;
    const text = 'x'.repeat(200);
    const pair = [];
    const group = [];
    for (let i = 0; i < rounds; i++) {
      pair.push(await w.measure(['send', 'm0', text]));
      group.push(await w.measure(['send', `@g${n}`, text]));
    }
    const med = (xs, k) => median(xs.map((x) => x[k]));
    const p = { wall: med(pair, 'wall'), cpu: med(pair, 'cpu'), relay: med(pair, 'relay') };
    const g = { wall: med(group, 'wall'), cpu: med(group, 'cpu'), relay: med(group, 'relay') };
    const marginal = (g.cpu + g.relay - (p.cpu + p.relay)) / (n - 1);
    const ratio = marginal / (p.cpu + p.relay);
    return {
      baseline: `\`hush send NAME\` to one member: ${fmtMs(p.wall)} wall, CPU ${fmtMs(p.cpu)} hush + ${fmtMs(p.relay)} relay`,
      ours: `\`hush send @NAME\` to ${n}: ${fmtMs(g.wall)} wall, CPU ${fmtMs(g.cpu)} hush + ${fmtMs(g.relay)} relay; ${fmtMs((g.cpu + g.relay) / n)} CPU per member, ${fmtMs(marginal)} per extra member`,
      ratio,
      pass: ratio <= 0.1,
      target: 'one more member ≤ 0.1x the CPU of a pairwise send',
      values: { members: n, rounds, pair: p, group: g, marginalCpuMs: marginal },
    };
  };
}

export const groupSend10 = groupSendRow(10);
export const groupSend50 = groupSendRow(50);
