import { defineConfig } from 'vitest/config';

// Four projects (CONTRIBUTING.md, "Tests"): unit (vectors, pure code), integration (a real relay process),
// cli (the real binary, two homes, execa), hostile (issue #6). `npm test` runs them all.
// Timeouts are per project: vitest does not pass the root test options down to projects.
const common = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    ...common,
    projects: [
      { test: { ...common, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { ...common, name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { test: { ...common, name: 'cli', include: ['test/cli/**/*.test.ts'] } },
      { test: { ...common, name: 'hostile', include: ['test/hostile/**/*.test.ts'] } },
    ],
  },
});
