import { defineConfig } from 'vitest/config';

// Four projects (DESIGN.md §6): unit (vectors, pure code), integration (a real relay process),
// cli (the real binary, two homes, execa), hostile (issue #6). `npm test` runs them all.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { test: { name: 'cli', include: ['test/cli/**/*.test.ts'] } },
      { test: { name: 'hostile', include: ['test/hostile/**/*.test.ts'] } },
    ],
  },
});
