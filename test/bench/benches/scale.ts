import { join } from 'node:path'
import pLimit from 'p-limit'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { median, ms, row, settle, sideBySide, timeMs, type BenchRow } from '../lib/measure.js'

/** Branches in the big store (`STRATA_BENCH_SCALE_BRANCHES`, default 10,000). */
const BRANCHES = Number(process.env.STRATA_BENCH_SCALE_BRANCHES ?? 10_000)

/**
 * Cost independent of the number of branches, on the local store and a 16 MiB database: creating
 * `BRANCHES` branches at concurrency 16; one create with them present vs with 10 (interleaved);
 * then stats, gc --dry-run, verify and branch list over all of them.
 */
export async function benchScale(ctx: BenchContext): Promise<BenchRow[]> {
  const big = await Repository.init(new LocalStore(join(ctx.work, 'big')))
  const small = await Repository.init(new LocalStore(join(ctx.work, 'small')))
  await big.importDatabase(ctx.db16, {})
  await small.importDatabase(ctx.db16, {})
  for (let i = 0; i < 10; i++) await small.createBranch(`b${i}`)
  settle()
  ctx.log(`scale: creating ${BRANCHES} branches at concurrency 16`)
  const limit = pLimit(16)
  const createAll = await timeMs(() => Promise.all(Array.from({ length: BRANCHES }, (_, i) => limit(() => big.createBranch(`b${i}`)))))
  settle()
  ctx.log('scale: 31 creates with many branches present vs with 10, interleaved')
  let n = 0
  const one = await sideBySide(
    31,
    () => big.createBranch(`probe-${n++}`),
    () => small.createBranch(`probe-${n++}`),
  )
  const rows: BenchRow[] = [
    row({
      bench: 'scale: create',
      what: `one branch create with ${BRANCHES} branches present vs with 10 (local)`,
      measured: `${ms(median(one.a))} vs ${ms(median(one.b))} (median of 31)`,
      figure: median(one.a) / median(one.b),
      unit: '×',
      target: { op: '<=', value: 1.5 },
      detail: { manyMs: one.a, fewMs: one.b },
    }),
    row({
      bench: 'scale: create all',
      what: `${BRANCHES} creates at concurrency 16 (local)`,
      measured: ms(createAll),
      figure: createAll / 1000,
      unit: 's',
      target: { op: '<=', value: 60 },
      detail: { ms: createAll, branches: BRANCHES },
    }),
  ]
  const ops: [string, number, (repo: Repository) => Promise<unknown>][] = [
    ['stats', 10, (r) => r.stats()],
    ['gc --dry-run', 5, (r) => r.gc({ dryRun: true })],
    ['verify', 10, (r) => r.verify()],
    ['branch list', 2, (r) => r.listBranches()],
  ]
  for (const [name, target, run] of ops) {
    ctx.log(`scale: ${name}`)
    // A freshly opened repository: no manifest cached from earlier steps, as for a CLI command.
    const fresh = await Repository.open(new LocalStore(join(ctx.work, 'big')))
    const t = await timeMs(() => run(fresh))
    rows.push(row({ bench: `scale: ${name}`, what: `${name} with ${BRANCHES + 32} branches (local)`, measured: ms(t), figure: t / 1000, unit: 's', target: { op: '<=', value: target }, detail: { ms: t } }))
  }
  return rows
}
