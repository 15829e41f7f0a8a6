#!/usr/bin/env node
// hush benchmarks (issue 7, docs/PERFORMANCE.md). `npm run bench` builds, then runs this.
//
//   node scripts/bench/run.mjs [--quick] [--only ROW|GROUP[,...]] [--wormhole] [--json FILE]
//
// Every row measures its baseline in the same run (interleaved where it can) and prints
// baseline, our figure, ratio (a row with two ratios sets ratioText: the judged one is `ratio`),
// target and pass/miss. Groups: crypto, v2, groups, relay, redis, cli, daemon, files. Rows:
// crypto-200, crypto-64k, v2-200, v2-setup, v2-sizes, v2-pull-10k, v2-fetch, groups-10, groups-50, groups-100, group-send-10, group-send-50, relay-throughput, relay-latency, relay-memory, redis, cli-help, e2e, e2e-daemon,
// daemon-send, daemon-rpc, pull-10k, send-lines, history, unlock, files-100m, files-1g. --quick shrinks every row for a smoke run.
// Never part of the test suite: timings are reported, not asserted.
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { crypto200, crypto64k } from './crypto.mjs';
import { v2Pull10k, v2Seal200, v2Setup, v2Sizes } from './v2.mjs';
import { v2Fetch } from './prekeys.mjs';
import { groups10, groups50, groups100 } from './groups.mjs';
import { groupSend10, groupSend50, stopGroupWorld } from './group-cli.mjs';
import { relayLatency, relayMemory, relayThroughput } from './relay.mjs';
import { redisRow } from './redis.mjs';
import { cliHelp, e2e, e2eDaemon, history, pull10k, sendLines, stopWorld, unlockRow } from './cli.mjs';
import { daemonRpc, daemonSend } from './daemon.mjs';
import { files100m, files1g } from './files.mjs';
import { killChildren } from './lib.mjs';

const ROWS = [
  { id: 'crypto-200', group: 'crypto', what: 'seal + open, 200 B', fn: crypto200 },
  { id: 'crypto-64k', group: 'crypto', what: 'seal + open, 64 KiB', fn: crypto64k },
  { id: 'v2-200', group: 'v2', what: 'v2: seal + open, 200 B, in a session', fn: v2Seal200 },
  { id: 'v2-setup', group: 'v2', what: 'v2: session setup (PQXDH + ML-KEM-768, both sides)', fn: v2Setup },
  { id: 'v2-sizes', group: 'v2', what: 'v2: prekey bundle and message bytes', fn: v2Sizes },
  { id: 'v2-pull-10k', group: 'v2', what: '`hush pull` of 10,000 waiting v2 messages', fn: v2Pull10k },
  { id: 'v2-fetch', group: 'v2', what: 'v2: prekey bundle fetch round trip (real relay)', fn: v2Fetch },
  { id: 'groups-10', group: 'groups', what: '`send @NAME` fan-out to 10 members (seal + queue)', fn: groups10 },
  { id: 'groups-50', group: 'groups', what: '`send @NAME` fan-out to 50 members (seal + queue)', fn: groups50 },
  { id: 'groups-100', group: 'groups', what: '`send @NAME` fan-out to 100 members (seal + queue)', fn: groups100 },
  { id: 'group-send-10', group: 'groups', what: '`hush send @NAME` whole command, 10 real homes, one relay', fn: groupSend10, limitS: 1200 }, // its first run sets up 51 homes
  { id: 'group-send-50', group: 'groups', what: '`hush send @NAME` whole command, 50 real homes, one relay', fn: groupSend50, limitS: 1200 },
  { id: 'relay-throughput', group: 'relay', what: 'relay durable sends, 10 pairs', fn: relayThroughput },
  { id: 'relay-latency', group: 'relay', what: 'relay latency send → push', fn: relayLatency },
  { id: 'relay-memory', group: 'relay', what: 'relay memory, 10,000 idle auth conns', fn: relayMemory },
  { id: 'redis', group: 'redis', what: 'relays on one Redis: durable sends, 1/2/3 relays', fn: redisRow },
  { id: 'cli-help', group: 'cli', what: '`hush --help` cold start', fn: cliHelp },
  { id: 'e2e', group: 'cli', what: 'one message end to end (send + pull)', fn: e2e },
  { id: 'e2e-daemon', group: 'cli', what: 'one message end to end via a daemon on each side', fn: e2eDaemon },
  { id: 'daemon-send', group: 'daemon', what: '`hush send` through a running daemon vs `node -e 0`', fn: daemonSend },
  { id: 'daemon-rpc', group: 'daemon', what: 'JSON-RPC `send` on the daemon socket, 3,000 messages', fn: daemonRpc },
  { id: 'send-lines', group: 'cli', what: '`hush send --lines` of 10,000 lines', fn: sendLines },
  { id: 'pull-10k', group: 'cli', what: '`hush pull` of 10,000 waiting', fn: pull10k },
  { id: 'history', group: 'cli', what: '`hush history --limit 50`, 100,000 stored', fn: history },
  { id: 'unlock', group: 'cli', what: 'unlock (Argon2id, defaults)', fn: unlockRow },
  { id: 'files-100m', group: 'files', what: '`hush send --file` + `hush save`, 100 MiB', fn: files100m },
  { id: 'files-1g', group: 'files', what: '`hush send --file` + `hush save`, 1 GiB: peak RSS', fn: files1g, limitS: 1800 },
];

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    wormhole: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 10)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n'),
  );
  process.exit(0);
}
// The relay-memory row holds 10,000 sockets open on each side: raise the soft fd limit to the
// hard one by re-running this script under `ulimit -n` (Node cannot set its own rlimit).
if (!process.env.HUSH_BENCH_ULIMIT) {
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isFinite(soft) && soft < 12_000) {
    const r = spawnSync('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, HUSH_BENCH_ULIMIT: '1' },
    });
    process.exit(r.status ?? 1);
  }
}

const wanted = opt.only ? new Set(opt.only.split(',').map((s) => s.trim())) : undefined;
const rows = ROWS.filter((r) => !wanted || wanted.has(r.id) || wanted.has(r.group));
if (wanted && rows.length === 0) {
  console.error(`bench: no row matches --only ${opt.only}; rows: ${ROWS.map((r) => r.id).join(', ')}; groups: crypto, v2, groups, relay, redis, cli, daemon, files`);
  process.exit(2);
}

const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const started = Date.now();
console.log(`# hush bench ${opt.quick ? '(quick) ' : ''}— ${new Date().toISOString()}`);
console.log(`machine: ${os.availableParallelism()} cpus, ${cpu}, node ${process.version}, ${os.platform()} ${os.release()}`);
console.log(`load average at start: ${load()}`);
console.log('');

const results = [];
const fmtRatio = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${x.toFixed(2)}x` : '—');
for (const r of rows) {
  const t0 = Date.now();
  process.stderr.write(`bench: ${r.id} …\n`);
  let res;
  try {
    // A row that never settles (a lost frame, a child that never answers) fails alone.
    const limitS = r.limitS ?? (opt.quick ? 120 : 240);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${limitS} s`)), limitS * 1000);
    });
    res = await Promise.race([r.fn(opt), timeout]).finally(() => clearTimeout(timer));
  } catch (e) {
    res = { baseline: '—', ours: `error: ${String(e?.message ?? e).split('\n')[0]}`, target: '—', pass: false, error: true };
  }
  const status = res.skipped ? res.skipped : res.pass ? 'pass' : 'MISS';
  results.push({ id: r.id, what: r.what, ...res, status, seconds: (Date.now() - t0) / 1000 });
  process.stderr.write(`bench: ${r.id}: ${status} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

const lines = [
  '| row | baseline (same run) | hush | ratio | target | result |',
  '| --- | --- | --- | --- | --- | --- |',
  ...results.map((x) => `| ${x.what} | ${x.baseline} | ${x.ours} | ${x.ratioText ?? fmtRatio(x.ratio)} | ${x.target} | ${x.status} |`),
];
console.log(lines.join('\n'));
console.log('');
console.log(`load average at end: ${load()}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (opt.json) writeFileSync(opt.json, JSON.stringify({ date: new Date().toISOString(), cpu, node: process.version, quick: opt.quick, results }, null, 2));
await stopWorld().catch(() => {});
await stopGroupWorld().catch(() => {});
killChildren();
process.exit(0);
