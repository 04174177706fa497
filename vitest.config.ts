import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
    exclude: ['tests/faults/**', 'node_modules/**'],
    setupFiles: ['tests/setup/log-capture.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: PGlite instances and server databases are per file, so keep parallelism modest.
    maxWorkers: 2,
  },
});
