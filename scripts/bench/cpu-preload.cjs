// Preloaded into a hush process by the group-send rows (NODE_OPTIONS=--require): prints the
// process's own CPU time (user + system, µs) on stderr at exit, so a row can report what a
// command costs on a shared, loaded machine, where its wall time mostly measures the queue.
'use strict';
process.on('exit', () => {
  const u = process.cpuUsage();
  require('node:fs').writeSync(2, `\nHUSH_BENCH_CPU_US ${u.user + u.system}\n`);
});
