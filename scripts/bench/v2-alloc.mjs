// Memory allocated per call of the v2-200 row's loops (scripts/bench/v2.mjs seal200Loops):
// V8 heap bytes and ArrayBuffer backing-store bytes (the off-heap memory of typed arrays above
// V8's on-heap limit, and of node Buffers), per seal + open, with a young generation large
// enough that no GC runs in the measured calls (so the deltas are what was allocated, not what
// survived), and the number of GCs per 1,000 calls at node's default heap settings:
//
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 scripts/bench/v2-alloc.mjs [N=2000]
//
// (--expose-gc: a full GC before each measured window, so that no loop's window collects what
// the one before it left; without it, read only the first loop's figures.)
//
// Loops: ours (seal + open in a session, the outer box included), rawV2 (the raw primitives v2
// calls; the judged baseline), raw (v1's raw primitives).
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { seal200Loops } from './v2.mjs';

const n = Number(process.argv[2] ?? 2000);
const loops = await seal200Loops();
let gcs = 0;
new PerformanceObserver((l) => (gcs += l.getEntries().length)).observe({ entryTypes: ['gc'] });
for (const name of ['rawV2', 'ours', 'raw']) {
  const f = loops[name];
  for (let i = 0; i < 3000; i++) f();
  globalThis.gc?.();
  const m0 = process.memoryUsage();
  const h0 = v8.getHeapStatistics();
  const g0 = gcs;
  for (let i = 0; i < n; i++) f();
  const h1 = v8.getHeapStatistics();
  const m1 = process.memoryUsage();
  await new Promise((r) => setImmediate(r)); // let the observer report
  const heap = (h1.used_heap_size - h0.used_heap_size) / n;
  const ab = (m1.arrayBuffers - m0.arrayBuffers) / n;
  console.log(`${name}: heap ${heap.toFixed(0)} B, array buffers ${ab.toFixed(0)} B per call; ${(((gcs - g0) * 1000) / n).toFixed(1)} GCs per 1,000 calls`);
}
