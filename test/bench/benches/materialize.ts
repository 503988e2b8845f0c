import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { CountingStore } from '@strata/core/testing'
import type { BenchContext } from '../lib/context.js'
import { stackBranches } from '../lib/data.js'
import { bytes, median, ms, row, settle, sideBySide, type BenchRow } from '../lib/measure.js'

const RUNS = 3
const DEPTH = 3
/** Pages each level of the chain changes (random pages, random content): one small change. */
const PAGES_PER_LEVEL = 4

/**
 * Materialize of the 256 MiB database stacked at depth 3 (one small change per level) by
 * reference vs `copy`; the bytes the by-reference one writes; export of the by-reference snapshot
 * vs export of the copied one.
 */
export async function benchMaterialize(ctx: BenchContext): Promise<BenchRow[]> {
  const counting = new CountingStore(new LocalStore(join(ctx.work, 'store')))
  const repo = await Repository.init(counting)
  const imported = await repo.importDatabase(ctx.db256)
  const from = await stackBranches(repo, DEPTH, PAGES_PER_LEVEL, imported.pageCount)
  // Each run flattens a fresh branch of the deepest level (created beforehand, untimed), so both
  // sides start from the same chain.
  const written = { reference: [] as number[], copy: [] as number[] }
  const names = { reference: [] as string[], copy: [] as string[] }
  const fresh = { reference: [] as string[], copy: [] as string[] }
  for (let i = 0; i < RUNS; i++) {
    for (const side of ['reference', 'copy'] as const) {
      const name = `flat-${side}-${i}`
      await repo.createBranch(name, { from })
      fresh[side].push(name)
    }
  }
  const flatten = async (copy: boolean): Promise<void> => {
    const name = fresh[copy ? 'copy' : 'reference'].shift()!
    counting.reset()
    await repo.materialize(name, { copy })
    names[copy ? 'copy' : 'reference'].push(name)
    written[copy ? 'copy' : 'reference'].push(counting.log.filter((c) => c.operation === 'put').reduce((a, c) => a + c.bytes, 0))
  }
  settle()
  ctx.log(`materialize: ${RUNS} by reference and ${RUNS} copies of ${bytes(imported.bytes)} at depth ${DEPTH}, interleaved`)
  const mat = await sideBySide(RUNS, () => flatten(false), () => flatten(true), settle)

  const out = join(ctx.work, 'out.sqlite')
  const clean = (): Promise<void> => rm(out, { force: true })
  ctx.log(`materialize: ${RUNS} exports of the by-reference snapshot and of the copied one, interleaved`)
  const exp = await sideBySide(RUNS, () => repo.export(names.reference[0]!, out), () => repo.export(names.copy[0]!, out), clean)
  const refStats = await repo.show(names.reference[0]!)

  const byRef = median(mat.a)
  const copy = median(mat.b)
  const maxWritten = Math.max(...written.reference)
  return [
    row({
      bench: 'materialize',
      what: `materialize of 256 MiB at depth ${DEPTH}: by reference vs --copy`,
      measured: `${ms(byRef)} vs ${ms(copy)} (median of ${RUNS})`,
      figure: copy / byRef,
      unit: '×',
      target: { op: '>=', value: 20 },
      detail: { referenceMs: mat.a, copyMs: mat.b },
    }),
    row({
      bench: 'materialize bytes',
      what: 'bytes a by-reference materialize of 256 MiB writes (target: 1% of the database)',
      measured: `${bytes(maxWritten)} (manifest and ref; largest of ${RUNS}) vs ${bytes(Math.max(...written.copy))} for --copy`,
      figure: maxWritten,
      unit: 'B',
      target: { op: '<=', value: Math.floor(imported.bytes / 100) },
      detail: { referenceBytes: written.reference, copyBytes: written.copy, databaseBytes: imported.bytes, referenceShare: maxWritten / imported.bytes },
    }),
    row({
      bench: 'materialize export',
      what: 'export of the by-reference snapshot vs the copied one',
      measured: `${ms(median(exp.a))} vs ${ms(median(exp.b))} (${refStats.segments} segments referenced vs contiguous)`,
      figure: median(exp.a) / median(exp.b),
      unit: '×',
      target: { op: '<=', value: 1.3 },
      detail: { referenceMs: exp.a, copyMs: exp.b },
    }),
  ]
}
