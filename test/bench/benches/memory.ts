import { execFile } from 'node:child_process'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { MiB, PAGE_SIZE, writeSyntheticDatabase } from '../lib/data.js'
import { bytes, ms, row, type BenchRow } from '../lib/measure.js'

const CHILD = fileURLToPath(new URL('../export-child.ts', import.meta.url))
const GiB_PAGES = (1024 * MiB) / PAGE_SIZE

/** Peak RSS of a process exporting a 1 GiB database (synthetic pages), against a 256 MiB limit. */
export async function benchMemory(ctx: BenchContext): Promise<BenchRow[]> {
  const src = join(ctx.work, 'gib.sqlite')
  ctx.log('memory: writing a 1 GiB synthetic database and importing it')
  writeSyntheticDatabase(src, GiB_PAGES)
  const storeDir = join(ctx.work, 'store')
  const repo = await Repository.init(new LocalStore(storeDir))
  await repo.importDatabase(src)
  await rm(src, { force: true })

  const out = join(ctx.work, 'out.sqlite')
  ctx.log('memory: exporting it in a child process')
  const idle = await child(storeDir, out, true)
  const full = await child(storeDir, out, false)
  const size = (await stat(out)).size
  await rm(out, { force: true })
  const peak = full.maxRssKiB * 1024
  return [
    row({
      bench: 'memory',
      what: `peak RSS exporting a ${bytes(size)} database (child process)`,
      measured: `${bytes(peak)} (same process without the transfer: ${bytes(idle.maxRssKiB * 1024)}; export took ${ms(full.elapsedMs)})`,
      figure: peak / MiB,
      unit: 'MiB',
      target: { op: '<=', value: 256 },
      detail: { peakBytes: peak, idlePeakBytes: idle.maxRssKiB * 1024, exportMs: full.elapsedMs, bytes: size },
    }),
  ]
}

/**
 * Run the export in a grandchild: Linux carries a process's peak RSS across `execve`, so a child
 * spawned straight from this (large) process would report this process's peak as its own
 * `maxRSS`. The shell in between forks it from a small process instead.
 */
async function child(storeDir: string, out: string, idle: boolean): Promise<ChildReport> {
  const args = ['--conditions=source', '--import', 'tsx', CHILD, storeDir, 'main', out, ...(idle ? ['idle'] : [])]
  const command = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const { stdout } = await promisify(execFile)('/bin/sh', ['-c', `${command}; exit $?`], { maxBuffer: 1024 * 1024 })
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildReport
}

/** What the child prints. */
interface ChildReport {
  /** `process.resourceUsage().maxRSS`. */
  maxRssKiB: number
  /** VmHWM from /proc/self/status (the same figure, from the kernel's view of this process). */
  hwmKiB: number
  elapsedMs: number
}
