#!/usr/bin/env node
import { isReportedWriteError } from './io.js'
import { run } from './run.js'

// A reader that stops early (`strata log | head`) closes the pipe. The closed pipe is not an
// error of the command: it ends on its own terms (`strata sql` stops reading rows and exits 0
// when it changed nothing) with no message, as Unix tools do. Errors a command's own writer
// receives (`export … -` onto a full disk, or to a reader that left) are reported by that command.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && !isReportedWriteError(e)) throw e
})

process.exitCode = await run(process.argv.slice(2))
