import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { CountingStore } from '@strata/core/testing'
import { openBranch, type LiveBranch } from '@strata/sqlite'
import type { BenchContext } from '../lib/context.js'
import { itemRows, PAGE_SIZE } from '../lib/data.js'
import { bytes, median, ms, row, settle, timeMs, type BenchRow } from '../lib/measure.js'

const RUNS = 9

interface Side {
  live: LiveBranch
  counting: CountingStore
  rows: number
  times: number[]
  segmentBytes: number[]
  manifestBytes: number[]
  otherBytes: number[]
  pagesChanged: number[]
  pagesScanned: number[]
  via: string[]
}

/**
 * A one-row update committed through the live layer (WAL change tracking): 256 MiB database vs
 * 16 MiB, vs storing the whole 256 MiB again, and the bytes that commit writes.
 */
export async function benchCommit(ctx: BenchContext): Promise<BenchRow[]> {
  const sides: Record<'big' | 'small', Side> = {} as Record<'big' | 'small', Side>
  for (const [name, db] of [['big', ctx.db256], ['small', ctx.db16]] as const) {
    const counting = new CountingStore(new LocalStore(join(ctx.work, `store-${name}`)))
    const repo = await Repository.init(counting)
    await repo.importDatabase(db)
    await repo.createBranch('edit')
    ctx.log(`commit: hydrating the ${name} database`)
    const live = await openBranch(repo, 'edit', { cacheDir: join(ctx.work, 'cache') })
    sides[name] = { live, counting, rows: itemRows(db), times: [], segmentBytes: [], manifestBytes: [], otherBytes: [], pagesChanged: [], pagesScanned: [], via: [] }
  }
  const update = (s: Side, i: number): void => {
    const id = 1 + ((i * 7919) % s.rows)
    s.live.db.prepare('UPDATE items SET label = ?, payload = randomblob(3900) WHERE id = ?').run(`item ${id} v${i}`, id)
  }
  // Warm-up: the first commit of a handle resolves the base's page table.
  for (const s of Object.values(sides)) {
    update(s, 0)
    await s.live.commit({ message: 'warm-up' })
  }
  settle()
  ctx.log(`commit: ${RUNS} one-row commits on each, interleaved`)
  for (let i = 1; i <= RUNS; i++) {
    for (const name of i % 2 ? (['big', 'small'] as const) : (['small', 'big'] as const)) {
      const s = sides[name]
      update(s, i)
      s.counting.reset()
      let result: Awaited<ReturnType<LiveBranch['commit']>> | null = null
      s.times.push(await timeMs(async () => (result = await s.live.commit({ message: `row ${i}` }))))
      const r = result!
      s.pagesChanged.push(r.pagesChanged)
      s.pagesScanned.push(r.pagesScanned)
      s.via.push(r.via ?? '?')
      const puts = s.counting.log.filter((c) => c.operation === 'put')
      s.segmentBytes.push(puts.filter((c) => c.key.startsWith('segments/')).reduce((a, c) => a + c.bytes, 0))
      s.manifestBytes.push(puts.filter((c) => c.key.startsWith('snapshots/')).reduce((a, c) => a + c.bytes, 0))
      s.otherBytes.push(puts.filter((c) => !c.key.startsWith('segments/') && !c.key.startsWith('snapshots/')).reduce((a, c) => a + c.bytes, 0))
    }
  }
  for (const s of Object.values(sides)) await s.live.close()

  ctx.log('commit vs full upload: storing the 256 MiB database again, 3 times')
  const uploads: number[] = []
  for (let i = 0; i < 3; i++) {
    const dir = join(ctx.work, `upload-${i}`)
    const repo = await Repository.init(new LocalStore(dir))
    settle()
    uploads.push(await timeMs(() => repo.importDatabase(ctx.db256)))
    await rm(dir, { recursive: true, force: true })
  }
  const big = sides.big
  const small = sides.small
  const commitBig = median(big.times)
  const upload = median(uploads)
  const maxSegment = Math.max(...big.segmentBytes)
  const maxManifest = Math.max(...big.manifestBytes)
  return [
    row({
      bench: 'commit',
      what: 'commit after a one-row update: 256 MiB vs 16 MiB (live, WAL tracker)',
      measured: `${ms(commitBig)} vs ${ms(median(small.times))} (median of ${RUNS}; via ${[...new Set(big.via)].join('/')}, ${Math.max(...big.pagesScanned)} pages read)`,
      figure: commitBig / median(small.times),
      unit: '×',
      target: { op: '<=', value: 2 },
      detail: { bigMs: big.times, smallMs: small.times, pagesChanged: big.pagesChanged, pagesScanned: big.pagesScanned, via: big.via },
    }),
    row({
      bench: 'commit vs full upload',
      what: 'storing the whole 256 MiB again vs that commit',
      measured: `${ms(upload)} vs ${ms(commitBig)}`,
      figure: upload / commitBig,
      unit: '×',
      target: { op: '>=', value: 50 },
      detail: { uploadMs: uploads, commitMs: commitBig },
    }),
    row({
      bench: 'delta bytes',
      what: 'page bytes one commit uploads (limit 8 pages; manifest and ref on top)',
      measured: `${bytes(maxSegment)} of pages (${Math.max(...big.pagesChanged)} pages) + manifest ${bytes(maxManifest)} + ref ${bytes(Math.max(...big.otherBytes))} (largest of ${RUNS})`,
      figure: maxSegment,
      unit: 'B',
      target: { op: '<=', value: 8 * PAGE_SIZE },
      detail: { segmentBytes: big.segmentBytes, manifestBytes: big.manifestBytes, refBytes: big.otherBytes, pagesChanged: big.pagesChanged },
    }),
  ]
}
