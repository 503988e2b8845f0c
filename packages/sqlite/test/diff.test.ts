import { existsSync } from 'node:fs'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { isStrataError, type Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FREELIST_OWNER, diff, pageMapWithOwners, type TableRowDiff } from '../src/index.js'
import { freelist } from '../src/diff/changed-owners.js'
import { PageSource } from '../src/diff/page-source.js'
import { commitSql, importedRepo, type TestRepo } from './helpers.js'

let t: TestRepo
let repo: Repository

const write = (branch: string, sql: string | ((db: Database.Database) => void)): Promise<void> => commitSql(repo, branch, sql)

const byTable = (rows: readonly TableRowDiff[] | null): Record<string, TableRowDiff> => Object.fromEntries((rows ?? []).map((r) => [r.table, r]))

beforeAll(async () => {
  t = await importedRepo(0.1)
  repo = t.repo
  // A table whose rowid every alias shadows and that has no primary key: no usable key.
  await write('main', "CREATE TABLE bag (rowid, _rowid_, oid); INSERT INTO bag VALUES (1, 'a', x'00'), (2, 'b', NULL), (2, 'b', NULL)")
})
afterAll(async () => {
  await t.cleanup()
})

describe('diff', () => {
  it('10 updates in one table and 5 inserts in another: exactly those tables and rows', async () => {
    await repo.createBranch('ten-five')
    await write('ten-five', `
      UPDATE users SET name = 'renamed ' || id WHERE id <= 10;
      INSERT INTO products (id, sku, title, price) VALUES (1001, 'N1', 'new 1', 1), (1002, 'N2', 'new 2', 2), (1003, 'N3', 'new 3', 3), (1004, 'N4', 'new 4', 4), (1005, 'N5', 'new 5', 5);
    `)
    const pages = await diff(repo, 'main', 'ten-five')
    expect(pages).toMatchObject({ level: 'pages', identical: false, tables: null, rows: null, a: { branch: 'main' }, b: { branch: 'ten-five' } })
    expect(pages.pages.changed + pages.pages.added).toBeGreaterThan(0)

    const d = await diff(repo, 'main', 'ten-five', { level: 'rows' })
    expect(d.pages).toEqual(pages.pages)
    expect(d.schema).toEqual([])
    // Page owners: the two tables, the sku index the inserts touched, and page 1 (change counter).
    const owners = d.tables!.map((x) => x.name).sort()
    expect(owners).toEqual(expect.arrayContaining(['products', 'users']))
    expect(owners.every((n) => ['users', 'products', 'sqlite_autoindex_products_1', 'sqlite_schema'].includes(n)), owners.join()).toBe(true)
    expect(d.tables!.reduce((n, x) => n + x.changed + x.added, 0)).toBe(d.pages.changed + d.pages.added)

    expect(d.rows!.map((r) => r.table)).toEqual(['products', 'users'])
    const { users, products } = byTable(d.rows)
    expect(users).toMatchObject({ keyKind: 'primary key', key: ['id'], added: 0, removed: 0, changed: 10, truncated: false })
    expect(users!.rows.changed.map((r) => r.key.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(users!.rows.changed[0]).toEqual({ key: { id: 1 }, before: { name: expect.stringMatching(/^user 1 /) }, after: { name: 'renamed 1' } })
    expect(products).toMatchObject({ added: 5, removed: 0, changed: 0 })
    expect(products!.rows.added.map((r) => r.after)).toEqual([1, 2, 3, 4, 5].map((i) => ({ id: 1000 + i, sku: `N${i}`, title: `new ${i}`, price: i })))

    // The other way round, rows are removed; maxRows lists fewer but counts stay exact.
    const back = await diff(repo, 'ten-five', 'main', { level: 'rows', maxRows: 2 })
    expect(byTable(back.rows).products).toMatchObject({ added: 0, removed: 5, truncated: true })
    expect(byTable(back.rows).products!.rows.removed).toHaveLength(2)
    const only = await diff(repo, 'main', 'ten-five', { level: 'rows', table: 'users' })
    expect(only.rows!.map((r) => r.table)).toEqual(['users'])
    // Through the segment cache (on by default for remote stores): the same answer, and the cache filled.
    const cacheDir = join(t.dir, 'diff-cache')
    expect(await diff(repo, 'main', 'ten-five', { level: 'rows', segmentCache: { dir: cacheDir } })).toEqual(d)
    expect((await readdir(cacheDir, { recursive: true })).length).toBeGreaterThan(0)
    const unknown = await diff(repo, 'main', 'ten-five', { level: 'rows', table: 'nope' }).catch((e: unknown) => e)
    expect(isStrataError(unknown, 'STRATA_INVALID_ARGUMENT')).toBe(true)
  })

  it('identical branches report nothing and export nothing', async () => {
    await repo.createBranch('same')
    const start = (await repo.getBranch('same')).head
    await write('same', "UPDATE users SET name = 'tmp' WHERE id = 1")
    // A different snapshot with the same content.
    await repo.reset('same', start)
    const work = join(t.dir, 'diff-work')
    await mkdir(work, { recursive: true })
    for (const [a, b] of [['main', 'main'], ['main', 'same']] as const) {
      const d = await diff(repo, a, b, { level: 'rows', workDir: work })
      expect(d).toMatchObject({ identical: true, pages: { changed: 0, added: 0, removed: 0 }, tables: [], schema: [], rows: [] })
    }
    expect(await readdir(work)).toEqual([])
  })

  it('a change and its undo differ in pages but not in rows', async () => {
    await repo.createBranch('undo')
    const name = (l: Database.Database): string => (l.prepare('SELECT name FROM users WHERE id = 1').get() as { name: string }).name
    let before = ''
    await write('undo', (db) => {
      before = name(db)
      db.prepare("UPDATE users SET name = 'tmp' WHERE id = 1").run()
    })
    await write('undo', (db) => void db.prepare('UPDATE users SET name = ? WHERE id = 1').run(before))
    const d = await diff(repo, 'main', 'undo', { level: 'rows' })
    expect(d.identical).toBe(false)
    expect(d.tables!.length).toBeGreaterThan(0)
    expect(d.schema).toEqual([])
    expect(d.rows).toEqual([])
  })

  it('schema changes come first: a new column, a dropped table, a new table and index', async () => {
    await repo.createBranch('schema')
    await write('schema', `
      ALTER TABLE users ADD COLUMN plan TEXT;
      UPDATE users SET plan = 'pro' WHERE id <= 3;
      CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
      INSERT INTO audit (what) VALUES ('one'), ('two');
      CREATE INDEX users_name ON users(name);
      DROP TABLE kv;
    `)
    const d = await diff(repo, 'main', 'schema', { level: 'rows' })
    expect(d.schema!.map((c) => [c.change, c.type, c.name])).toEqual([
      ['added', 'table', 'audit'],
      ['removed', 'table', 'kv'],
      ['changed', 'table', 'users'],
      ['added', 'index', 'users_name'],
    ])
    const [audit, kv, users] = d.schema!
    expect(audit).toMatchObject({ rows: 2, before: null, after: expect.stringContaining('CREATE TABLE audit') })
    expect(kv).toMatchObject({ rows: 100, after: null })
    expect(users).toMatchObject({ columns: { added: ['plan'], removed: [], changed: [] }, rows: null })
    // Filling the new column changes those rows; rows where it stays NULL are unchanged.
    expect(d.rows!.map((r) => [r.table, r.added, r.removed, r.changed])).toEqual([['users', 0, 0, 3]])
    expect(d.rows![0]!.rows.changed[0]).toEqual({ key: { id: 1 }, before: { plan: null }, after: { plan: 'pro' } })
    // The dropped table's pages went to the freelist.
    const kvPages = d.tables!.find((x) => x.name === 'kv')
    const free = d.tables!.find((x) => x.name === FREELIST_OWNER)
    expect(kvPages?.removed).toBeGreaterThan(0)
    expect(free).toMatchObject({ type: 'freelist' })
    expect(free!.added).toBeGreaterThan(0)
  })

  it('WITHOUT ROWID tables match on their key; a table without a usable key is compared as sets', async () => {
    await repo.createBranch('keys')
    await write('keys', `
      UPDATE kv SET v = 'changed' WHERE k IN ('key:000001', 'key:000002');
      DELETE FROM kv WHERE k = 'key:000003';
      INSERT INTO kv VALUES ('key:zzz', 'new');
      UPDATE bag SET oid = x'01' WHERE rowid = 1;
    `)
    const d = await diff(repo, 'main', 'keys', { level: 'rows' })
    const { kv, bag } = byTable(d.rows)
    expect(kv).toMatchObject({ keyKind: 'primary key', key: ['k'], added: 1, removed: 1, changed: 2 })
    expect(kv!.rows.removed).toEqual([{ key: { k: 'key:000003' }, before: { k: 'key:000003', v: 'value 3' }, after: null }])
    expect(bag).toMatchObject({ keyKind: 'none', key: [], added: 1, removed: 1, changed: 0, note: expect.stringContaining('distinct rows') })
    expect(bag!.rows.added[0]!.after).toEqual({ rowid: 1, _rowid_: 'a', oid: Buffer.from([1]) })
  })

  it('a page map names the table or index owning each run', async () => {
    await repo.createBranch('mapped')
    await write('mapped', 'DELETE FROM orders WHERE id % 2 = 0; UPDATE users SET name = name WHERE id = 7')
    const m = await pageMapWithOwners(repo, 'mapped')
    expect(m.ranges[0]!.from).toBe(1)
    for (let i = 1; i < m.ranges.length; i++) expect(m.ranges[i]!.from).toBe(m.ranges[i - 1]!.to + 1)
    expect(m.ranges.at(-1)!.to).toBe(m.pageCount)
    expect(m.ranges[0]).toMatchObject({ owner: 'sqlite_schema', ownerType: 'table', depth: 0 })
    const owners = new Set(m.ranges.map((r) => r.owner))
    for (const o of ['users', 'orders', 'orders_user', 'kv']) expect(owners.has(o), o).toBe(true)
    expect(m.ranges.some((r) => r.depth === 0 && r.owner === 'orders')).toBe(true)
    expect(m.ranges.some((r) => r.depth === 1)).toBe(true)
    // The freelist as SQLite counts it.
    const exported = join(t.dir, 'mapped.db')
    await repo.export('mapped', exported)
    const db = new Database(exported, { readonly: true })
    const count = Number(db.pragma('freelist_count', { simple: true }))
    db.close()
    expect(count).toBeGreaterThan(0)
    expect((await freelist(new PageSource({ path: exported, pageSize: 4096, pageCount: m.pageCount, prefetch: null }))).size).toBe(count)
    expect(m.ranges.filter((r) => r.owner === FREELIST_OWNER).reduce((n, r) => n + r.to - r.from + 1, 0)).toBe(count)
    expect(existsSync(exported)).toBe(true)
  })
})

// ---- cross-check against an independent comparison ------------------------------------------

const value = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'A', 'b', ''), fc.constant(null), fc.constantFrom(Buffer.from([1]), Buffer.from([2, 3])))
const op = fc.record({
  kind: fc.constantFrom('insert', 'update', 'delete'),
  table: fc.constantFrom('ti', 'tw', 'tr'),
  id: fc.integer({ min: 1, max: 40 }),
  v: value,
  w: value,
})
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

function apply(db: Database.Database, ops: readonly Op[]): void {
  for (const o of ops) {
    const key = o.table === 'tw' ? `k${o.id}` : o.id
    const where = o.table === 'tr' ? 'rowid = ?' : o.table === 'tw' ? 'k = ?' : 'id = ?'
    if (o.kind === 'insert') {
      const sql = o.table === 'tr' ? 'INSERT OR REPLACE INTO tr (rowid, v, w) VALUES (?, ?, ?)' : `INSERT OR REPLACE INTO ${o.table} VALUES (?, ?, ?)`
      db.prepare(sql).run(key, o.v, o.w)
    } else if (o.kind === 'update') {
      db.prepare(`UPDATE ${o.table} SET v = ?, w = ? WHERE ${where}`).run(o.v, o.w, key)
    } else {
      db.prepare(`DELETE FROM ${o.table} WHERE ${where}`).run(key)
    }
  }
}

/** Keys added, removed and changed per table, by SQL EXCEPT over both exported files. */
function independent(pathA: string, pathB: string): Record<string, { added: string[]; removed: string[]; changed: string[] }> {
  const db = new Database(':memory:')
  db.prepare('ATTACH ? AS a').run(pathA)
  db.prepare('ATTACH ? AS b').run(pathB)
  const out: Record<string, { added: string[]; removed: string[]; changed: string[] }> = {}
  for (const [table, k, all] of [['ti', 'id', '*'], ['tw', 'k', '*'], ['tr', 'rowid', 'rowid, *']] as const) {
    const keys = (sql: string): string[] => (db.prepare(sql).raw(true).all() as unknown[][]).map((r) => String(r[0])).sort()
    out[table] = {
      added: keys(`SELECT ${k} FROM b.${table} EXCEPT SELECT ${k} FROM a.${table}`),
      removed: keys(`SELECT ${k} FROM a.${table} EXCEPT SELECT ${k} FROM b.${table}`),
      changed: keys(`SELECT ${k} FROM (SELECT ${all} FROM b.${table} EXCEPT SELECT ${all} FROM a.${table}) INTERSECT SELECT ${k} FROM a.${table}`),
    }
  }
  db.close()
  return out
}

describe('row diff against an independent EXCEPT comparison', () => {
  it('agrees on random workloads on two branches', async () => {
    await repo.createBranch('prop-base')
    await write('prop-base', (db) => {
      db.exec('CREATE TABLE ti (id INTEGER PRIMARY KEY, v, w); CREATE TABLE tw (k TEXT PRIMARY KEY, v, w) WITHOUT ROWID; CREATE TABLE tr (v, w); CREATE INDEX tr_v ON tr(v)')
      for (let i = 1; i <= 30; i++) {
        db.prepare('INSERT INTO ti VALUES (?, ?, ?)').run(i, i, `row ${i}`)
        db.prepare('INSERT INTO tw VALUES (?, ?, ?)').run(`k${i}`, i % 3 === 0 ? null : `v${i}`, Buffer.from([i]))
        db.prepare('INSERT INTO tr (rowid, v, w) VALUES (?, ?, ?)').run(i, i % 2, 'x'.repeat(i * 20))
      }
    })
    let run = 0
    let nonEmpty = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.array(op, { maxLength: 25 }), async (left, right) => {
        run++
        const [x, y] = [`prop-${run}-x`, `prop-${run}-y`]
        await repo.createBranch(x, { from: 'prop-base' })
        await repo.createBranch(y, { from: 'prop-base' })
        await write(x, (db) => apply(db, left))
        await write(y, (db) => apply(db, right))
        const d = await diff(repo, x, y, { level: 'rows', maxRows: 1000 })
        const [pa, pb] = [join(t.dir, `${x}.db`), join(t.dir, `${y}.db`)]
        await repo.export(x, pa)
        await repo.export(y, pb)
        const expected = independent(pa, pb)
        const got = byTable(d.rows)
        if (Object.values(expected).some((e) => e.added.length + e.removed.length + e.changed.length > 0)) nonEmpty++
        for (const table of ['ti', 'tw', 'tr']) {
          const r = got[table]
          const e = expected[table]!
          const keys = (list: { key: Record<string, unknown> }[] | undefined): string[] => (list ?? []).map((c) => String(Object.values(c.key)[0])).sort()
          expect({ table, added: keys(r?.rows.added), removed: keys(r?.rows.removed), changed: keys(r?.rows.changed) }).toEqual({ table, ...e })
          expect([r?.added ?? 0, r?.removed ?? 0, r?.changed ?? 0]).toEqual([e.added.length, e.removed.length, e.changed.length])
        }
        expect(d.schema).toEqual([])
      }),
      { numRuns: 15 },
    )
    // The workloads are not all empty: most runs compare real differences.
    expect(nonEmpty).toBeGreaterThan(run / 2)
  })
})
