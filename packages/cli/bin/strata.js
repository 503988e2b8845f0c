#!/usr/bin/env node
// The installed `strata` command. npm links a package's bins at install time and only to files
// that exist then, before any build; this file is committed so the link always exists, and it
// runs the built CLI: the bundle (bundle/strata.js, see scripts/bundle.mjs), which starts
// faster, or the compiled modules (dist/bin.js) where there is no bundle or it is older than
// the last `tsc -b` of a package it holds (a build of the modules alone must not leave the
// command running stale code).
import { statSync } from 'node:fs'

const mtime = (relative) => {
  try {
    return statSync(new URL(relative, import.meta.url)).mtimeMs
  } catch {
    return null
  }
}

function entry() {
  const bundled = mtime('../bundle/strata.js')
  if (bundled === null) return '../dist/bin.js'
  // In this repository, each package's tsc -b build info; absent from an installed package.
  for (const pkg of ['cli', 'core', 'sqlite', 's3']) {
    const built = mtime(`../../${pkg}/tsconfig.tsbuildinfo`)
    if (built !== null && built > bundled) return '../dist/bin.js'
  }
  return '../bundle/strata.js'
}

const main = entry()
try {
  await import(main)
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(main.slice(3))) {
    process.stderr.write('strata: the CLI is not built yet; run `npm run build` in the repository first\n')
    process.exitCode = 1
  } else {
    throw e
  }
}
