import { defineConfig } from 'vitest/config';

/**
 * The tests that exercise `src/recon/` in this process, for `npm run mutation`: test/recon/,
 * the alert rule's evaluation over a simulated week (metrics.ts), and `ack`/`report` as
 * test/cli/ack.test.ts runs them in-process. Those that run the built command in a child
 * process cannot see a mutant of the sources and are left out.
 */
export default defineConfig({
  test: {
    include: ['test/recon/**/*.test.ts', 'test/ops/alerts.test.ts', 'test/cli/ack.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    // One module graph for all files: Stryker switches mutants at run time, so nothing needs a
    // fresh import, and re-importing per file was over a third of each mutant's time.
    isolate: false,
    reporters: ['default'],
  },
});
