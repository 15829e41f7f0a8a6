// Instruction counts of the v2-200 row's loops (scripts/bench/v2.mjs seal200Loops), for a
// figure a shared machine's load does not move: run it under valgrind's callgrind with two
// numbers of measured calls after the same warm-up, and divide the difference of the total Ir
// by the difference of the calls (start-up, the world's setup and the warm-up cancel out):
//
//   for n in 1000 2000; do valgrind --tool=callgrind --callgrind-out-file=/tmp/ours-$n.out \
//     node --single-threaded --interrupt-budget=8192 scripts/bench/v2-ir.mjs ours $n 2000; done
//   (the same for rawV2; then callgrind_annotate /tmp/ours-2000.out for where the Ir sit)
//
// --single-threaded makes V8 compile and collect on the main thread, at the same points in
// every run; --interrupt-budget=8192 has it done tiering up within the warm-up. What V8's
// compiler still counts, and a start-up primality test (detail::sprp, 6-24 M Ir from one run
// to the next), are left out of the figures in docs/PERFORMANCE.md. Loops: ours (seal + open
// in a session, the outer box included), rawV2 (the raw primitives v2 calls; the judged
// baseline), raw (v1's raw primitives). Without valgrind it prints the CPU time per call
// (process.cpuUsage) of the measured calls, a rougher figure; scripts/bench/v2-ab.mjs compares
// builds in one process.
import { seal200Loops } from './v2.mjs';

const [name = 'ours', nArg = '2000', warmArg = '500'] = process.argv.slice(2);
const loops = await seal200Loops();
const f = loops[name];
if (typeof f !== 'function') throw new Error(`unknown loop ${name} (ours, rawV2, raw)`);
const n = Number(nArg);
for (let i = 0; i < Number(warmArg); i++) f();
const t0 = process.cpuUsage();
for (let i = 0; i < n; i++) f();
const t = process.cpuUsage(t0);
if (n > 0) console.log(`${name}: ${n} calls, ${((t.user + t.system) / n).toFixed(1)} µs CPU per call`);
