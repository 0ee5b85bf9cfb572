import { defineConfig } from 'vitest/config';

// Integration and interop tests spawn the compiled daemon (dist/), so `npm test`
// builds first. Tests run in forks: several start worker threads and child
// processes, which is safer outside vitest's own worker threads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
