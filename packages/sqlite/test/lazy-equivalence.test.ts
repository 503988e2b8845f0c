import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openBranch, type LiveBranch } from '../src/index.js'
import { buildDatabase, exportBytes, makeRepo, type TestRepo } from './helpers.js'

type Op =
  | { kind: 'sql'; sql: string; params: (string | number)[] }
  | { kind: 'commit' }
  | { kind: 'fork' }

const sqlOp = fc.oneof(
  fc.record({ k: fc.integer({ min: 1, max: 400 }), len: fc.integer({ min: 0, max: 9000 }) }).map(({ k, len }): Op => ({ kind: 'sql', sql: 'INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)', params: [`key:${String(k).padStart(6, '0')}`, 'v'.repeat(len)] })),
  fc.record({ d: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 2, max: 40 }) }).map(({ d, m }): Op => ({ kind: 'sql', sql: 'UPDATE orders SET qty = qty + ? WHERE id % ? = 0', params: [d, m] })),
  fc.integer({ min: 2, max: 30 }).map((m): Op => ({ kind: 'sql', sql: 'DELETE FROM attachments WHERE id % ? = 0', params: [m] })),
  fc.integer({ min: 1, max: 3 }).map((n): Op => ({ kind: 'sql', sql: `CREATE TABLE IF NOT EXISTS extra${n} (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO extra${n} (b) SELECT email FROM users WHERE id % 5 = ${n}`, params: [] })),
  fc.integer({ min: 1, max: 3 }).map((n): Op => ({ kind: 'sql', sql: `DROP TABLE IF EXISTS extra${n}`, params: [] })),
  fc.integer({ min: 1, max: 3 }).map((n): Op => ({ kind: 'sql', sql: `CREATE INDEX IF NOT EXISTS orders_qty${n} ON orders(qty, id)`, params: [] })),
  fc.integer({ min: 1, max: 2 }).map((n): Op => ({ kind: 'sql', sql: `ALTER TABLE products ADD COLUMN note${n} TEXT`, params: [] })),
  fc.record({ a: fc.integer({ min: 1, max: 1000 }), w: fc.integer({ min: 0, max: 300 }) }).map(({ a, w }): Op => ({ kind: 'sql', sql: 'SELECT count(*) AS n, sum(qty) AS q FROM orders WHERE user_id BETWEEN ? AND ?', params: [a, a + w] })),
  fc.integer({ min: 1, max: 1000 }).map((id): Op => ({ kind: 'sql', sql: 'SELECT * FROM users WHERE id = ?', params: [id] })),
  fc.constant<Op>({ kind: 'sql', sql: 'SELECT k, length(v) AS n FROM kv ORDER BY k DESC LIMIT 5', params: [] }),
)
const program = fc.array(fc.oneof({ weight: 6, arbitrary: sqlOp }, { weight: 2, arbitrary: fc.constant<Op>({ kind: 'commit' }) }, { weight: 1, arbitrary: fc.constant<Op>({ kind: 'fork' }) }), { minLength: 2, maxLength: 10 })

/** Run one statement (or script) and describe its outcome comparably. */
function run(live: LiveBranch, op: Extract<Op, { kind: 'sql' }>): unknown {
  try {
    if (op.params.length === 0 && op.sql.includes(';')) {
      live.db.exec(op.sql)
      return { ok: true }
    }
    const stmt = live.db.prepare(op.sql)
    return stmt.reader ? { rows: stmt.all(...op.params) } : { changes: stmt.run(...op.params).changes }
  } catch (e) {
    return { error: (e as Error).message }
  }
}

describe('lazy and hydrated handles', () => {
  let t: TestRepo
  let runs = 0
  beforeAll(async () => {
    t = await makeRepo()
    const src = join(t.dir, 'source.sqlite')
    buildDatabase(src, { scale: 0.2 })
    await t.repo.importDatabase(src)
  })
  afterAll(async () => t?.cleanup())

  it('return identical results and produce byte-identical commits and exports for random SQL on random branches', async () => {
    await fc.assert(
      fc.asyncProperty(program, async (ops) => {
        const run_ = ++runs
        const names = { lazy: [`l${run_}-0`], file: [`f${run_}-0`] }
        await t.repo.createBranch(names.lazy[0]!, { from: 'main' })
        await t.repo.createBranch(names.file[0]!, { from: 'main' })
        const lazy = await openBranch(t.repo, names.lazy[0]!, { mode: 'lazy', cacheDir: t.cacheDir })
        const file = await openBranch(t.repo, names.file[0]!, { mode: 'file', cacheDir: t.cacheDir })
        try {
          expect(lazy.mode).toBe('lazy')
          for (const op of ops) {
            if (op.kind === 'sql') {
              expect(run(lazy, op)).toEqual(run(file, op))
            } else {
              const [a, b] = [await lazy.commit({ message: 'step' }), await file.commit({ message: 'step' })]
              expect({ changed: a.changed, pages: a.pagesChanged, count: a.pageCount }).toEqual({ changed: b.changed, pages: b.pagesChanged, count: b.pageCount })
              const [ma, mb] = [await t.repo.snapshot(lazy.head), await t.repo.snapshot(file.head)]
              expect([...ma.pages.pageNos]).toEqual([...mb.pages.pageNos])
              expect(Buffer.from(ma.pages.hashes).equals(Buffer.from(mb.pages.hashes))).toBe(true)
              if (op.kind === 'fork') {
                const n = names.lazy.length
                for (const [side, live] of [['lazy', lazy], ['file', file]] as const) {
                  const name = `${side[0]}${run_}-${n}`
                  await live.branches.create(name)
                  await live.branches.switch(name)
                  names[side].push(name)
                }
              }
            }
          }
          await lazy.commit({ message: 'end' })
          await file.commit({ message: 'end' })
        } finally {
          await lazy.close({ uncommitted: 'discard' })
          await file.close({ uncommitted: 'discard' })
        }
        for (let i = 0; i < names.lazy.length; i++) {
          const [a, b] = await Promise.all([exportBytes(t.repo, names.lazy[i]!, t.dir), exportBytes(t.repo, names.file[i]!, t.dir)])
          expect(a.equals(b)).toBe(true)
        }
      }),
      { numRuns: 10 },
    )
  })
})
