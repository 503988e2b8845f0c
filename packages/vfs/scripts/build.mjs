#!/usr/bin/env node
// Builds the VFS extension with node-gyp at install time, from source, downloading nothing: the
// Node headers come from the running Node's own installation when it has them. A failed build
// is not an install failure: @strata/sqlite then opens branches in full, with a warning.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = ['rebuild', '--release']
const nodeDir = resolve(process.execPath, '..', '..')
if (existsSync(join(nodeDir, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${nodeDir}`)

// npm hands its bundled node-gyp to install scripts; outside npm, look where npm keeps it.
const bundled = join(nodeDir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : null)
const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args]
const started = Date.now()
const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
if (r.status === 0) {
  console.log(`@strata/vfs: built build/Release/strata_vfs.node in ${((Date.now() - started) / 1000).toFixed(1)} s`)
} else {
  const why = r.error ? r.error.message : (r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')
  console.warn(`@strata/vfs: the lazy-branch extension did not build (${why}); branches will open as full working files`)
}
