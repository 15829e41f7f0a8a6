import { defineConfig } from 'vitest/config';
import { SlowFirst } from './test/slow-first.js';

// Four projects (CONTRIBUTING.md, "Tests"): unit (vectors, pure code), integration (a real relay process),
// cli (the real binary, two homes, execa), hostile (issue #6). `npm test` runs them all.
// Timeouts are per project: vitest does not pass the root test options down to projects.
const common = { testTimeout: 60_000, hookTimeout: 60_000 };
// CommonJS TypeScript (.cts: bin/hush.js's fast path, src/cli/fast-path.cts) is TypeScript too;
// vite's default filter compiles only .ts, .mts and .tsx.
const ts = { esbuild: { include: /\.([cm]?ts|tsx)$/ } };

// Most test time is spent waiting on real child processes (relays, the CLI, redis-server, tmux), not
// on this process's CPU: run several files at once. vitest's default is one worker per core minus
// one, which on a 2-core CI machine means one file at a time (the suite took 12 minutes that way).
// HUSH_TEST_WORKERS overrides it (e.g. 1 to debug one file's output in order).
const workers = Number(process.env.HUSH_TEST_WORKERS ?? 4);

export default defineConfig({
  test: {
    ...common,
    maxWorkers: workers,
    minWorkers: 1,
    // Longest files first, from a table, the same in a fresh clone as here (test/slow-first.ts).
    sequence: { sequencer: SlowFirst },
    projects: [
      { ...ts, test: { ...common, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { ...ts, test: { ...common, name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { ...ts, test: { ...common, name: 'cli', include: ['test/cli/**/*.test.ts'] } },
      { ...ts, test: { ...common, name: 'hostile', include: ['test/hostile/**/*.test.ts'] } },
    ],
  },
});
