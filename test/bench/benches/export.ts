import { spawnSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { stackBranches } from '../lib/data.js'
import { LatencyStore } from '../lib/latency-store.js'
import { bytes, median, ms, row, settle, sideBySide, type BenchRow } from '../lib/measure.js'

const RUNS = 3
const DEPTH = 32
/** Pages each level of the deep chain changes (random pages, random content). */
const PAGES_PER_LEVEL = 64

/**
 * Export of the 256 MiB branch vs `cp` of the same file and vs the sqlite3 shell's `.backup`; export at stacking depth 32 vs depth 1;
 * export through a store adding 20 ms per request vs 0 ms.
 */
export async function benchExport(ctx: BenchContext): Promise<BenchRow[]> {
  const storeDir = join(ctx.work, 'store')
  const repo = await Repository.init(new LocalStore(storeDir))
  const imported = await repo.importDatabase(ctx.db256)
  const out = join(ctx.work, 'out.sqlite')
  const copy = join(ctx.work, 'copy.sqlite')
  // Each run starts with nothing dirty in the page cache: an fsync (export's, .backup's) would
  // otherwise also wait for the writeback of what an earlier run (or the import) left behind.
  const clean = async (): Promise<void> => {
    await Promise.all([rm(out, { force: true }), rm(copy, { force: true })])
    settle()
  }
  settle()

  ctx.log(`export: ${RUNS} exports and ${RUNS} cp of ${bytes(imported.bytes)}, interleaved`)
  const vsCp = await sideBySide(RUNS, () => repo.export('main', out), () => run('cp', [ctx.db256, copy]), clean)
  const noFsync = await sideBySide(RUNS, () => repo.export('main', out, { durable: false }), () => run('cp', [ctx.db256, copy]), clean)
  const cpSync = await sideBySide(RUNS, () => run('cp', [ctx.db256, copy]), () => run('sh', ['-c', `cp "${ctx.db256}" "${out}" && sync "${out}"`]), clean)
  ctx.log(`export: ${RUNS} exports and ${RUNS} sqlite3 .backup of the same file, interleaved`)
  const vsBackup = await sideBySide(RUNS, () => repo.export('main', out), () => run('sqlite3', [ctx.db256, `.backup '${copy}'`]), clean)

  ctx.log(`depth: building a chain of ${DEPTH} branches, ${PAGES_PER_LEVEL} random pages each`)
  await stackBranches(repo, DEPTH, PAGES_PER_LEVEL, imported.pageCount)
  ctx.log(`depth: ${RUNS} exports at depth ${DEPTH} and at depth 1, interleaved`)
  const depth = await sideBySide(RUNS, () => repo.export(`depth-${DEPTH}`, out), () => repo.export('depth-1', out), clean)

  ctx.log(`latency: ${RUNS} exports through 20 ms and 0 ms per request, interleaved (fresh repository each)`)
  const requests = { slow: 0, fast: 0 }
  const through = async (delay: number): Promise<void> => {
    const store = new LatencyStore(new LocalStore(storeDir), delay)
    const r = await Repository.open(store)
    await r.export('main', out)
    requests[delay ? 'slow' : 'fast'] = store.requests
  }
  const latency = await sideBySide(RUNS, () => through(20), () => through(0), clean)

  const exp = median(vsCp.a)
  const cp = median(vsCp.b)
  return [
    row({
      bench: 'export',
      what: 'export of the 256 MiB branch vs cp of the same file',
      measured: `${ms(exp)} vs ${ms(cp)} (export without its fsync: ${ms(median(noFsync.a))}; cp + fsync: ${ms(median(cpSync.b))}; median of ${RUNS})`,
      figure: exp / cp,
      unit: '×',
      target: { op: '<=', value: 3 },
      detail: { exportMs: vsCp.a, cpMs: vsCp.b, exportNoFsyncMs: noFsync.a, cpBesideNoFsyncMs: noFsync.b, cpFsyncMs: cpSync.b },
    }),
    row({
      bench: 'export-backup',
      what: 'sqlite3 .backup of the 256 MiB file vs export of the same database (how many times faster export is)',
      measured: `${ms(median(vsBackup.b))} vs ${ms(median(vsBackup.a))} (median of ${RUNS})`,
      figure: median(vsBackup.b) / median(vsBackup.a),
      unit: '×',
      target: { op: '>=', value: 2 },
      detail: { backupMs: vsBackup.b, exportMs: vsBackup.a },
    }),
    row({
      bench: 'depth',
      what: `export at stacking depth ${DEPTH} vs depth 1 (${PAGES_PER_LEVEL} changed pages per level)`,
      measured: `${ms(median(depth.a))} vs ${ms(median(depth.b))}`,
      figure: median(depth.a) / median(depth.b),
      unit: '×',
      target: { op: '<=', value: 1.3 },
      detail: { deepMs: depth.a, shallowMs: depth.b },
    }),
    row({
      bench: 'latency',
      what: 'export of 256 MiB with 20 ms per request vs 0 ms',
      measured: `${ms(median(latency.a))} vs ${ms(median(latency.b))} (${requests.slow} requests)`,
      figure: median(latency.a) / median(latency.b),
      unit: '×',
      target: { op: '<=', value: 2 },
      detail: { slowMs: latency.a, fastMs: latency.b, requests: requests.slow },
    }),
  ]
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`)
}
