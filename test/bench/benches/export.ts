import { spawnSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { stackBranches } from '../lib/data.js'
import { LatencyStore } from '../lib/latency-store.js'
import { bytes, median, ms, row, settle, sideBySide, type BenchRow } from '../lib/measure.js'

/**
 * Timed runs per side. Five, not three: on this kind of VM one write of 256 MiB into fresh page
 * cache in a few takes twice the kernel time of the others (a bare loop of 256 × 1 MiB writes and an
 * fsync, rm and sync between: 210–290 ms, then 430–590 ms with 230–420 ms of system time instead of
 * 80–140), and a median of three is moved by two such runs.
 */
const RUNS = 5
const DEPTH = 32
/** Pages each level of the deep chain changes (random pages, random content). */
const PAGES_PER_LEVEL = 64

/**
 * Export of the 256 MiB branch vs `cp` of the same file (durable export vs cp + fsync, and
 * without fsync vs plain cp) and vs the sqlite3 shell's `.backup`; export at stacking depth 32 vs depth 1;
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
  // One untimed export and copy first. The first 256 MiB written after the import lands in memory
  // the kernel has not used before, which on a VM costs several times the kernel time of a later
  // write (one first export took 819 ms of it, and 124 ms when 600 MiB had been written and
  // deleted just before), and code not yet optimised runs slower: whichever side ran first would
  // pay for both.
  await repo.export('main', out)
  run('cp', [ctx.db256, copy])
  await clean()

  // Like with like. A durable export (the default) ends with an fsync before its rename: compare it
  // with `cp` followed by an fsync of the copy (`sync FILE`), which is what it takes for a copy to
  // survive a crash. Plain `cp` leaves its 256 MiB dirty in the page cache and returns; set beside
  // a durable export, it would charge export for the disk writing and cp for none. So the
  // headline row is export vs cp + fsync, and export with `durable: false` vs plain cp is printed
  // too, as the second like-with-like pair. `.backup` syncs its output, so it is set beside the
  // durable export.
  const cpSynced = (): void => run('sh', ['-c', `cp "${ctx.db256}" "${copy}" && sync "${copy}"`])
  ctx.log(`export: ${RUNS} durable exports and ${RUNS} cp + fsync of ${bytes(imported.bytes)}, interleaved`)
  const durable = await sideBySide(RUNS, () => repo.export('main', out), cpSynced, clean)
  ctx.log(`export: ${RUNS} exports without fsync and ${RUNS} plain cp, interleaved`)
  const noFsync = await sideBySide(RUNS, () => repo.export('main', out, { durable: false }), () => run('cp', [ctx.db256, copy]), clean)
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

  return [
    row({
      bench: 'export',
      what: 'durable export of the 256 MiB branch vs cp + fsync of the same file (both on disk when they return)',
      measured: `${ms(median(durable.a))} vs ${ms(median(durable.b))} (median of ${RUNS})`,
      figure: median(durable.a) / median(durable.b),
      unit: '×',
      target: { op: '<=', value: 3 },
      detail: { exportMs: durable.a, cpFsyncMs: durable.b },
    }),
    row({
      bench: 'export-nosync',
      what: 'export without its fsync vs plain cp (both leave the bytes in the page cache)',
      measured: `${ms(median(noFsync.a))} vs ${ms(median(noFsync.b))} (median of ${RUNS})`,
      figure: median(noFsync.a) / median(noFsync.b),
      unit: '×',
      target: { op: '<=', value: 3 },
      detail: { exportNoFsyncMs: noFsync.a, cpMs: noFsync.b },
    }),
    row({
      bench: 'export-backup',
      what: 'sqlite3 .backup of the 256 MiB file vs durable export of the same database (both sync; how many times faster export is)',
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
