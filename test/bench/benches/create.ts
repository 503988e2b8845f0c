import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { fullCopyBranch } from '../lib/full-copy.js'
import { bytes, median, ms, row, settle, sideBySide, timeMs, type BenchRow } from '../lib/measure.js'

/**
 * Branch creation on a 256 MiB database vs a 1 MiB one (O(1): a branch record and a ref), and
 * vs a full-copy branch of the 256 MiB one (every page read and stored again).
 */
export async function benchCreate(ctx: BenchContext): Promise<BenchRow[]> {
  const repo = await Repository.init(new LocalStore(join(ctx.work, 'store')))
  await repo.importDatabase(ctx.db256, { branch: 'big' })
  await repo.importDatabase(ctx.db1, { branch: 'tiny' })
  settle()
  let n = 0
  ctx.log('create: 61 branches from each database, interleaved')
  const create = await sideBySide(
    61,
    () => repo.createBranch(`from-big-${n++}`, { from: 'big' }),
    () => repo.createBranch(`from-tiny-${n++}`, { from: 'tiny' }),
  )
  const big = median(create.a)
  const tiny = median(create.b)

  ctx.log('create vs copy: 3 full copies of the 256 MiB branch into an empty store')
  const copies: number[] = []
  let copyBytes = 0
  for (let i = 0; i < 3; i++) {
    const dir = join(ctx.work, `copy-${i}`)
    const dst = await Repository.init(new LocalStore(dir))
    settle()
    copies.push(await timeMs(async () => (copyBytes = (await fullCopyBranch(repo, 'big', dst, 'copy')).bytesWritten)))
    await rm(dir, { recursive: true, force: true })
  }
  const copy = median(copies)
  return [
    row({
      bench: 'create',
      what: 'branch creation: 256 MiB database vs 1 MiB',
      measured: `${ms(big)} vs ${ms(tiny)} (median of 61)`,
      figure: big / tiny,
      unit: '×',
      target: { op: '<=', value: 1.5 },
      detail: { bigMs: create.a, tinyMs: create.b },
    }),
    row({
      bench: 'create vs copy',
      what: 'full-copy branch vs branch creation, 256 MiB',
      measured: `copy ${ms(copy)} (${bytes(copyBytes)} written) vs create ${ms(big)}`,
      figure: copy / big,
      unit: '×',
      target: { op: '>=', value: 100 },
      detail: { copyMs: copies, createMs: big, copyBytes },
    }),
  ]
}
