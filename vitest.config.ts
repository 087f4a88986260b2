import { defineConfig } from 'vitest/config';

// Tests mirror src/ and native/. Heavy suites (fuzzing, kernel parity) run in
// forked workers so a native crash is reported as a failed file, not a dead runner.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
