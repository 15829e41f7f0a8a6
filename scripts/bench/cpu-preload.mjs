// Preloaded into a hush process by the group-send rows (node --import): prints the process's
// own CPU time (user + system, µs) on stderr at exit, so a row can report what a command costs
// on a shared, loaded machine, where its wall time mostly measures the run queue.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const u = process.cpuUsage();
  writeSync(2, `\nHUSH_BENCH_CPU_US ${u.user + u.system}\n`);
});
