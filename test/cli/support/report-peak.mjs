// Preloaded into a spawned CLI (`node --import <this> …`): on exit, write the process's peak
// resident set size in KiB (`process.resourceUsage().maxRSS`) to the file named by STRATA_TEST_PEAK_FILE.
import { writeFileSync } from 'node:fs'

process.on('exit', () => {
  const file = process.env.STRATA_TEST_PEAK_FILE
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS))
})
