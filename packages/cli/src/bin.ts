#!/usr/bin/env node
import { run } from './index.js'

// A reader that stops early (`strata log | head`) closes the pipe: stop quietly, like any Unix tool.
// Results are printed last, after the work is done, so nothing is cut short but the output.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0)
  throw e
})

process.exitCode = await run(process.argv.slice(2))
