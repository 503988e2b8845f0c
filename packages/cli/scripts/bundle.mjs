#!/usr/bin/env node
// Bundles the compiled `strata` command (dist/, built by `tsc -b`) with the workspace packages
// it runs on into bundle/, which bin/strata.js runs. Part of `npm run build`.
//
// Why: Node loads an ES module file by file (resolve, read, compile, link), and one `strata`
// command loads about 200 of them, most of them from @strata/core; one file per command in a
// few shared chunks starts tens of milliseconds sooner. The lazy fetcher thread and the thread
// openers of stores are entry points of their own (found next to the chunk that starts them,
// under the names they have in their packages' builds). Native modules (better-sqlite3, the VFS
// extension) and the AWS SDK stay packages loaded from node_modules; so does cli-progress,
// which is loaded with require when a progress bar is drawn.
//
// Usage: node packages/cli/scripts/bundle.mjs
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const at = (relative) => fileURLToPath(new URL(relative, import.meta.url))
const outdir = at('../bundle')
rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: {
    strata: at('../dist/bin.js'),
    'fetch-worker': at('../../sqlite/dist/lazy/fetch-worker.js'),
    'store-openers': at('../../sqlite/dist/lazy/store-openers.js'),
    'thread-opener': at('../../s3/dist/thread-opener.js'),
  },
  outdir,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', '@strata/vfs', '@aws-sdk/*', 'cli-progress'],
  // commander is CommonJS: its require() of Node's modules needs a real require in an ES module.
  banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module'; const require = __strataCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})
