import { defineConfig } from 'vitest/config';

/** The long fault-injection suite: `npm run test:faults` (CI runs it after `npm test`). */
export default defineConfig({
  test: {
    include: ['tests/faults/**/*.test.ts'],
    setupFiles: ['tests/setup/log-capture.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    maxWorkers: 1,
    fileParallelism: false,
  },
});
