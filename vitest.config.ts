import { defineConfig } from 'vitest/config'

// Workspace packages resolve to their TypeScript sources through the `source` export
// condition, so `npm test` needs no build step (the CLI end-to-end tests build first).
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    globalSetup: ['packages/s3/test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
})
