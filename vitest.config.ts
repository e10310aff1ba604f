import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Interop tests start real peers (tgtd, libiscsi tools) on loopback ports of their own.
    fileParallelism: true,
  },
});
