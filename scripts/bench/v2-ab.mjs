// CPU-time A/B of the v2-200 row's loop between builds, in one process (scripts/bench/v2.mjs
// seal200Loops): the raw primitives v2 calls (from the first build) and `ours` of each build,
// interleaved in rounds of 100 calls, timed with process.cpuUsage so that what other processes
// take is not counted. Each argument is a checkout with dist/ built (e.g. a `git archive` of the
// commit before, built with `npx tsc -p tsconfig.build.json`, and this one):
//
//   node scripts/bench/v2-ab.mjs /tmp/before . [ROUNDS=100]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const roots = process.argv.slice(2);
if (roots.length === 0) throw new Error('usage: node scripts/bench/v2-ab.mjs BUILD_DIR [BUILD_DIR ...]');
const loops = {};
for (const [i, root] of roots.entries()) {
  const { seal200Loops } = await import(pathToFileURL(path.resolve(root, 'scripts/bench/v2.mjs')).href);
  const l = await seal200Loops();
  loops.rawV2 ??= l.rawV2;
  loops[`ours#${i + 1}`] = l.ours;
}
const names = Object.keys(loops);
for (const n of names) for (let i = 0; i < 2000; i++) loops[n]();
const per = Object.fromEntries(names.map((n) => [n, []]));
const rounds = Number(process.env.ROUNDS ?? 100);
for (let r = 0; r < rounds; r++) {
  for (const n of names) {
    const t = process.cpuUsage();
    for (let i = 0; i < 100; i++) loops[n]();
    const u = process.cpuUsage(t);
    per[n].push((u.user + u.system) / 100);
  }
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
for (const n of names) {
  const label = n === 'rawV2' ? 'raw primitives v2 calls' : `${n} (${roots[Number(n.slice(5)) - 1]})`;
  console.log(
    `${label}: p10 ${q(per[n], 0.1).toFixed(1)} µs, median ${q(per[n], 0.5).toFixed(1)} µs; ratio p10 ${(q(per[n], 0.1) / q(per.rawV2, 0.1)).toFixed(3)}, median ${(q(per[n], 0.5) / q(per.rawV2, 0.5)).toFixed(3)}`,
  );
}
