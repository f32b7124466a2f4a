import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Real sockets, timers and child processes: keep the suite's concurrency modest on 2 cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
