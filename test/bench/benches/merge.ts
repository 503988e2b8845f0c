import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { LocalStore, Repository } from '@strata/core'
import { merge, openBranch } from '@strata/sqlite'
import type { BenchContext } from '../lib/context.js'
import { PAGE_SIZE } from '../lib/data.js'
import { bytes, median, ms, row, settle, timeMs, type BenchRow } from '../lib/measure.js'

const RUNS = 3
const CHANGED = 1000
const ACCOUNTS = 50_000

/**
 * A clean row-level merge on a 256 MiB database of several tables: two branches with 1,000
 * changed rows each in the same table (different rows), merged one into the other. Measures the
 * merge against hydrating the target alone (side by side), and the bytes it reads against the
 * pages of the changed table.
 */
export async function benchMerge(ctx: BenchContext): Promise<BenchRow[]> {
  const file = join(ctx.work, 'several.sqlite')
  copyFileSync(ctx.db256, file)
  const db = new Database(file)
  db.exec(`
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, balance INTEGER NOT NULL);
    CREATE TABLE events (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE INDEX events_account ON events(account_id);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ACCOUNTS})
    INSERT INTO accounts SELECT i, 'account ' || i, 'a' || i || '@example.com', i * 10 FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ACCOUNTS})
    INSERT INTO events SELECT i, 1 + i % 997, 'kind ' || (i % 7), 1700000000 + i FROM n;
  `)
  const accountPages = (db.prepare("SELECT count(*) AS n FROM dbstat WHERE name IN ('accounts', 'sqlite_autoindex_accounts_1')").get() as { n: number }).n
  const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n
  db.close()

  // A plain local store: the merge reads through lazy files, whose fetcher thread opens its own
  // store instance, so what it read comes from the merge's own page counts.
  const repo = await Repository.init(new LocalStore(join(ctx.work, 'store')))
  const imported = await repo.importDatabase(file)
  await repo.createBranch('ours')
  await repo.createBranch('theirs')
  const cacheDir = join(ctx.work, 'cache')
  ctx.log(`merge: ${CHANGED} changed rows of accounts on each of two branches (${tables} tables, ${bytes(imported.pageCount * PAGE_SIZE)})`)
  for (const [branch, offset] of [['ours', 0], ['theirs', 1]] as const) {
    const live = await openBranch(repo, branch, { cacheDir })
    const step = Math.floor(ACCOUNTS / (2 * CHANGED))
    const update = live.db.prepare('UPDATE accounts SET balance = balance + 1, name = ? WHERE id = ?')
    live.db.transaction(() => {
      for (let i = 0; i < CHANGED; i++) update.run(`${branch} ${i}`, 1 + (2 * i + offset) * step)
    })()
    await live.commit({ message: `${CHANGED} rows` })
    await live.close()
  }

  settle()
  ctx.log(`merge: ${RUNS} merges (each into a fresh branch at ours' head) and ${RUNS} hydrations of the target, interleaved`)
  const merges: number[] = []
  const hydrations: number[] = []
  const read: number[] = []
  let last = null as Awaited<ReturnType<typeof merge>> | null
  for (let i = 0; i < RUNS; i++) {
    await repo.createBranch(`target-${i}`, { from: 'ours' })
    merges.push(await timeMs(async () => (last = await merge(repo, 'theirs', `target-${i}`, { cacheDir }))))
    const r = last!.read
    read.push((r.targetPages + r.basePages + r.sourcePages) * r.pageSize)
    hydrations.push(
      await timeMs(async () => {
        const h = await openBranch(repo, `target-${i}`, { cacheDir })
        await h.close()
      }),
    )
  }
  const m = last!
  const users = m.tables.find((t) => t.table === 'accounts')
  if (m.conflicts.length || !users || users.updated !== CHANGED) throw new Error(`merge bench: expected ${CHANGED} clean updates, got ${JSON.stringify(m.tables)}`)
  const changedBytes = accountPages * PAGE_SIZE
  const readBytes = median(read)
  return [
    row({
      bench: 'merge',
      what: `clean merge of ${CHANGED} + ${CHANGED} changed rows in one table of ${tables}, 256 MiB database (target ≤ 2 s)`,
      measured: `merge ${ms(median(merges))} vs hydrating the target alone ${ms(median(hydrations))} (runs: ${merges.map(ms).join(', ')})`,
      figure: median(merges) / 1000,
      unit: 's',
      target: { op: '<=', value: 2 },
      detail: { merges, hydrations, tables: m.tables, read: m.read },
    }),
    row({
      bench: 'merge read',
      what: `page bytes a clean merge fetches (target, base and source, all lazy) vs the changed table's pages (accounts and its index: ${accountPages} pages)`,
      measured: `${bytes(readBytes)} read vs ${bytes(changedBytes)} of changed-table pages (target ${m.read.targetPages}, base ${m.read.basePages}, source ${m.read.sourcePages} pages)`,
      figure: readBytes / changedBytes,
      unit: '×',
      target: { op: '<=', value: 3 },
      detail: { readBytes, changedBytes, accountPages, read },
    }),
  ]
}
