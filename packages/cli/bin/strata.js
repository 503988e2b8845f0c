#!/usr/bin/env node
// The installed `strata` command. npm links a package's bins at install time and only to files
// that exist then, before any build; this file is committed so the link always exists, and it
// runs the compiled CLI.
try {
  await import('../dist/bin.js')
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/bin.js')) {
    process.stderr.write('strata: the CLI is not built yet; run `npm run build` in the repository first\n')
    process.exitCode = 1
  } else {
    throw e
  }
}
