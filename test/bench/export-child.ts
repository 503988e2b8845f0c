// Runs in a child process: export a branch of a local store and report peak memory, so the
// figure is this export's alone. Usage: export-child.ts <store dir> <branch> <out path> [idle]
import { readFileSync } from 'node:fs'
import { LocalStore, Repository } from '@strata/core'

const [storeDir, branch, out, idle] = process.argv.slice(2)
const repo = await Repository.open(new LocalStore(storeDir!))
const t0 = performance.now()
if (idle === 'idle') {
  // Everything but the transfer: modules loaded, manifest read, page table resolved.
  const target = await repo.resolveTarget(branch!)
  await repo.resolve(target.snapshot, target.branch)
} else {
  await repo.export(branch!, out!)
}
const elapsedMs = performance.now() - t0
const usage = process.resourceUsage()
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
process.stdout.write(JSON.stringify({ maxRssKiB: usage.maxRSS, hwmKiB: hwm ? Number(hwm[1]) : usage.maxRSS, elapsedMs }) + '\n')
