import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { CountingStore } from '@strata/core/testing'
import { openBranch } from '@strata/sqlite'
import type { BenchContext } from '../lib/context.js'
import { PAGE_SIZE, itemRows } from '../lib/data.js'
import { bytes, median, ms, row, timeMs, type BenchRow } from '../lib/measure.js'

const DIFF_ROWS = 100

/**
 * Switching a live handle between sibling branches that differ by 100 pages, with the segment
 * cache warm: bytes read from the store, and the time against a fresh hydration.
 */
export async function benchSwitch(ctx: BenchContext): Promise<BenchRow[]> {
  const counting = new CountingStore(new LocalStore(join(ctx.work, 'store')))
  const repo = await Repository.init(counting)
  await repo.importDatabase(ctx.db256)
  await repo.createBranch('a')
  await repo.createBranch('b')
  // b's change is committed elsewhere, so the handle's cache has never seen it.
  const rows = itemRows(ctx.db256)
  const other = await openBranch(repo, 'b', { cacheDir: join(ctx.work, 'other'), segmentCache: false })
  const step = Math.floor(rows / DIFF_ROWS)
  other.db.transaction(() => {
    for (let i = 0; i < DIFF_ROWS; i++) other.db.prepare('UPDATE items SET payload = randomblob(3900) WHERE id = ?').run(1 + i * step)
  })()
  const c = await other.commit({ message: `${DIFF_ROWS} rows` })
  await other.close()

  const cacheDir = join(ctx.work, 'cache')
  ctx.log('switch: hydrating branch a through the segment cache (warms it)')
  const live = await openBranch(repo, 'a', { cacheDir, segmentCache: true })
  counting.reset()
  const first = await timeMs(() => live.branches.switch('b'))
  const reads = counting.log.filter((x) => x.operation === 'get')
  const segBytes = reads.filter((x) => x.key.startsWith('segments/')).reduce((s, x) => s + x.bytes, 0)
  const manifestBytes = reads.filter((x) => x.key.startsWith('snapshots/')).reduce((s, x) => s + x.bytes, 0)
  const otherBytes = reads.filter((x) => !x.key.startsWith('segments/') && !x.key.startsWith('snapshots/')).reduce((s, x) => s + x.bytes, 0)

  ctx.log('switch: 6 switches back and forth vs 3 fresh hydrations (all cached)')
  const switches: number[] = []
  for (let i = 0; i < 6; i++) switches.push(await timeMs(() => live.branches.switch(i % 2 ? 'b' : 'a')))
  await live.close()
  const hydrations: number[] = []
  for (let i = 0; i < 3; i++) {
    hydrations.push(
      await timeMs(async () => {
        const h = await openBranch(repo, 'b', { cacheDir, segmentCache: true })
        await h.close()
      }),
    )
  }
  const limit = 2 * DIFF_ROWS * PAGE_SIZE
  return [
    row({
      bench: 'switch',
      what: `bytes read switching to a sibling ${c.pagesChanged} pages apart (warm cache; limit 2 × ${DIFF_ROWS} pages, manifests on top)`,
      measured: `${bytes(segBytes)} of segments + ${bytes(manifestBytes)} of manifests + ${bytes(otherBytes)} refs/records (${ms(first)})`,
      figure: segBytes,
      unit: 'B',
      target: { op: '<=', value: limit },
      detail: { pagesChanged: c.pagesChanged, segmentBytes: segBytes, manifestBytes, otherBytes, reads: reads.map((x) => [x.key, x.bytes]) },
    }),
    row({
      bench: 'switch time',
      what: 'switch by page diff vs fresh hydration of 256 MiB (both from the local cache)',
      measured: `${ms(median(switches))} vs ${ms(median(hydrations))}`,
      figure: median(hydrations) / median(switches),
      unit: '×',
      target: { op: '>=', value: 1 },
      detail: { switchMs: switches, hydrationMs: hydrations },
    }),
  ]
}
