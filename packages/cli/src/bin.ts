#!/usr/bin/env node
import { run } from './index.js'

// A reader that stops early (`strata log | head`) closes the pipe. The closed pipe is not an
// error of the command: it ends on its own terms (`strata sql` stops reading rows and exits 0
// when it changed nothing) with no message, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e
})

process.exitCode = await run(process.argv.slice(2))
