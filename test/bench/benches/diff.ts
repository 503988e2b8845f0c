import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { diff, openBranch, type DiffResult } from '@strata/sqlite'
import type { BenchContext } from '../lib/context.js'
import { itemRows } from '../lib/data.js'
import { median, ms, row, settle, timeMs, type BenchRow } from '../lib/measure.js'

const RUNS = 3
const SPREAD = 1000

/**
 * Table and row diffs on the 256 MiB database at the cost of the change: a one-row change and
 * 1,000 changed rows spread over the table, each diffed by ranges (the default) and, side by
 * side, by the exhaustive method (`dbstat` over both databases, whole-table comparison) that the
 * range diff replaces. Reports the pages each side read.
 */
export async function benchDiff(ctx: BenchContext): Promise<BenchRow[]> {
  const repo = await Repository.init(new LocalStore(join(ctx.work, 'store')))
  await repo.importDatabase(ctx.db256)
  const rows = itemRows(ctx.db256)
  const cacheDir = join(ctx.work, 'cache')
  const edit = async (branch: string, sql: string): Promise<void> => {
    await repo.createBranch(branch)
    const live = await openBranch(repo, branch, { cacheDir })
    live.db.exec(sql)
    await live.commit({ message: sql.slice(0, 60) })
    await live.close()
  }
  const step = Math.floor(rows / SPREAD)
  await edit('one', `UPDATE items SET label = 'changed' WHERE id = ${Math.floor(rows / 2)}`)
  await edit('spread', `UPDATE items SET payload = randomblob(3900) WHERE id % ${step} = 0 AND id <= ${step * SPREAD}`)
  // No segment cache: a local store reads its own files; each run fetches afresh.
  const opts = { segmentCache: false as const, cacheDir }
  settle()

  const out: BenchRow[] = []
  const measure = async (b: string, level: 'tables' | 'rows', runs: number, exhaustive: boolean): Promise<{ times: number[]; last: DiffResult }> => {
    const times: number[] = []
    let last: DiffResult | null = null
    for (let i = 0; i < runs; i++) times.push(await timeMs(async () => (last = await diff(repo, 'main', b, { level, exhaustive, ...opts }))))
    return { times, last: last! }
  }
  for (const [b, label, target] of [
    ['one', 'one-row change', 0.5],
    ['spread', `${SPREAD} changed rows spread over one table`, 2],
  ] as const) {
    for (const level of ['tables', 'rows'] as const) {
      if (b === 'spread' && level === 'tables') continue
      ctx.log(`diff: ${label}, --${level}: ${RUNS} runs by ranges, 1 exhaustive`)
      const fast = await measure(b, level, RUNS, false)
      const slow = await measure(b, level, 1, true)
      const d = fast.last
      const changed = d.rows?.reduce((n, t) => n + t.changed + t.added + t.removed, 0) ?? null
      if (level === 'rows' && changed !== (b === 'one' ? 1 : SPREAD)) throw new Error(`diff bench: expected ${b === 'one' ? 1 : SPREAD} changed rows, got ${JSON.stringify(d.rows?.map((t) => [t.table, t.changed]))}`)
      const methods = d.rows?.map((t) => `${t.table}: ${t.method}`).join(', ') ?? ''
      out.push(
        row({
          bench: `diff --${level} (${b})`,
          what: `diff --${level}, ${label}, 256 MiB database (target ≤ ${target} s${level === 'rows' && b === 'one' ? ', ≤ 16 pages per side' : ''})`,
          measured:
            `${ms(median(fast.times))} by ranges vs ${ms(slow.times[0]!)} exhaustive; pages read ${d.read!.a.pages} / ${d.read!.b.pages} per side` +
            ` vs ${slow.last.read!.a.pages} / ${slow.last.read!.b.pages}${methods ? ` (${methods})` : ''}`,
          figure: median(fast.times) / 1000,
          unit: 's',
          target: { op: '<=', value: target },
          detail: { runs: fast.times, exhaustive: slow.times, read: d.read, exhaustiveRead: slow.last.read, pages: d.pages, tables: d.tables, methods },
        }),
      )
      if (level === 'rows' && b === 'one') {
        out.push(
          row({
            bench: 'diff --rows pages (one)',
            what: 'pages the one-row --rows diff reads, the larger side (target ≤ 16)',
            measured: `${d.read!.a.pages} and ${d.read!.b.pages} pages of ${d.a.pageCount}`,
            figure: Math.max(d.read!.a.pages, d.read!.b.pages),
            unit: 'pages',
            target: { op: '<=', value: 16 },
            detail: { read: d.read },
          }),
        )
      }
    }
  }
  return out
}
