import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import type { Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { diff, type DiffResult, type TableRowDiff } from '../src/index.js'
import { blobFor, commitSql, makeRepo, type TestRepo } from './helpers.js'

let t: TestRepo
let repo: Repository

const write = (branch: string, sql: string | ((db: Database.Database) => void)): Promise<void> => commitSql(repo, branch, sql)

/** The rows of a diff without how they were found: what must not depend on the method. */
const rowsOnly = (rows: readonly TableRowDiff[] | null): unknown =>
  (rows ?? []).map(({ method: _m, ranges: _r, fullReason: _f, ...rest }) => rest)

const byTable = (d: DiffResult): Record<string, TableRowDiff> => Object.fromEntries((d.rows ?? []).map((r) => [r.table, r]))

/** The range diff and the exhaustive one (dbstat owners, whole tables) agree on owners, schema and every row. */
async function expectSameAsExhaustive(a: string, b: string): Promise<DiffResult> {
  const d = await diff(repo, a, b, { level: 'rows', maxRows: 100_000 })
  const full = await diff(repo, a, b, { level: 'rows', maxRows: 100_000, exhaustive: true })
  expect(d.tables).toEqual(full.tables)
  expect(d.schema).toEqual(full.schema)
  expect(rowsOnly(d.rows)).toEqual(rowsOnly(full.rows))
  for (const r of full.rows ?? []) expect(r.method).toBe('full')
  return d
}

const N = 3000
const WM = 150

/** A key of each storage class, and texts equal but for case, for a NOCASE key column without affinity. */
const mixedKey = (i: number, kind: number): number | string | Buffer =>
  [i, i + 0.25, `Name${String(i).padStart(3, '0')}`, `name${String(i).padStart(3, '0')}`, Buffer.from([i & 0xff, 0xfe])][kind]!

beforeAll(async () => {
  t = await makeRepo()
  repo = t.repo
  const path = join(t.dir, 'base.sqlite')
  const db = new Database(path)
  db.transaction(() => {
    db.exec(`
      CREATE TABLE ri (id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
      CREATE INDEX ri_n ON ri(n);
      CREATE TABLE rw (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
      CREATE TABLE rr (v, w);
      CREATE INDEX rr_v ON rr(v);
      CREATE TABLE ro (id INTEGER PRIMARY KEY, b BLOB);
      CREATE TABLE wm (a COLLATE NOCASE, b, v, PRIMARY KEY (a, b)) WITHOUT ROWID;
      CREATE TABLE wd (k TEXT, v, PRIMARY KEY (k DESC)) WITHOUT ROWID;
      CREATE TABLE wc (k TEXT, v, PRIMARY KEY (k COLLATE NOCASE)) WITHOUT ROWID;
      CREATE TABLE wk (k BLOB PRIMARY KEY, v) WITHOUT ROWID;
      CREATE TABLE wb (k INTEGER PRIMARY KEY, b BLOB) WITHOUT ROWID;
      CREATE TABLE wf (k REAL PRIMARY KEY, v) WITHOUT ROWID;
    `)
    const ri = db.prepare('INSERT INTO ri VALUES (?, ?, ?)')
    for (let i = 1; i <= N; i++) ri.run(i * 10, `row ${i} ${'x'.repeat(i % 50)}`, i % 97)
    const rw = db.prepare('INSERT INTO rw VALUES (?, ?)')
    for (let i = 1; i <= 800; i++) rw.run(`k${String(i).padStart(5, '0')}`, `v${i}`)
    const rr = db.prepare('INSERT INTO rr (rowid, v, w) VALUES (?, ?, ?)')
    for (let i = 1; i <= 1500; i++) rr.run(i, i % 13, 'w'.repeat(20 + (i % 30)))
    const ro = db.prepare('INSERT INTO ro VALUES (?, ?)')
    // Blobs past a 4 KiB page spill to overflow pages.
    for (let i = 1; i <= 80; i++) ro.run(i, blobFor(i, i % 4 === 0 ? 9000 : 300))
    const wm = db.prepare('INSERT OR IGNORE INTO wm VALUES (?, ?, ?)')
    for (let i = 1; i <= WM; i++) for (let kind = 0; kind < 5; kind++) wm.run(mixedKey(i, kind), kind, `v${i}`)
    for (const table of ['wd', 'wc']) {
      const ins = db.prepare(`INSERT OR IGNORE INTO ${table} VALUES (?, ?)`)
      for (let i = 1; i <= 400; i++) ins.run(`${i % 2 ? 'K' : 'k'}${String(i).padStart(4, '0')}`, `v${i}`)
    }
    // Keys past a quarter page spill to overflow pages.
    const wk = db.prepare('INSERT INTO wk VALUES (?, ?)')
    for (let i = 1; i <= 30; i++) wk.run(blobFor(i, 3000), i)
    // REAL keys with no fraction are stored as integers in the record: the ranges read them so.
    const wf = db.prepare('INSERT INTO wf VALUES (?, ?)')
    for (let i = 1; i <= 600; i++) wf.run(i / 2, `v${i}`)
    const wb = db.prepare('INSERT INTO wb VALUES (?, ?)')
    for (let i = 1; i <= 40; i++) wb.run(i, blobFor(i, i % 3 === 0 ? 9000 : 200))
  })()
  db.close()
  await repo.importDatabase(path)
})
afterAll(async () => {
  await t.cleanup()
})

// ---- random edits: the range diff equals the whole comparison -------------------------------

const edit = fc.oneof(
  fc.record({ kind: fc.constant('ri-update' as const), at: fc.integer({ min: 1, max: N }), n: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ kind: fc.constant('ri-insert' as const), at: fc.oneof(fc.integer({ min: -50, max: 0 }), fc.integer({ min: 1, max: N * 10 }), fc.integer({ min: N * 10 + 1, max: N * 10 + 500 })) }),
  fc.record({ kind: fc.constant('ri-delete' as const), at: fc.integer({ min: 1, max: N }), span: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('ri-index-only' as const) }),
  fc.record({ kind: fc.constant('rw-update' as const), at: fc.integer({ min: 1, max: 800 }) }),
  fc.record({ kind: fc.constant('rw-insert' as const), at: fc.integer({ min: 0, max: 900 }) }),
  fc.record({ kind: fc.constant('wm-update' as const), at: fc.integer({ min: 1, max: WM }), key: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('wm-insert' as const), at: fc.integer({ min: 0, max: WM + 20 }), key: fc.integer({ min: 0, max: 4 }), b: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant('wm-delete' as const), at: fc.integer({ min: 1, max: WM }), key: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('wb-blob' as const), at: fc.integer({ min: 1, max: 45 }), size: fc.constantFrom(9000, 200), seed: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({ kind: fc.constant('rr-update' as const), at: fc.integer({ min: 1, max: 1500 }), v: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('rr-delete' as const), at: fc.integer({ min: 1, max: 1500 }) }),
  fc.record({ kind: fc.constant('ro-blob' as const), at: fc.integer({ min: 1, max: 90 }), size: fc.constantFrom(9000, 300, 12000), seed: fc.integer({ min: 1, max: 1000 }) }),
)
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never

function apply(db: Database.Database, edits: readonly Edit[]): void {
  for (const e of edits) {
    switch (e.kind) {
      case 'ri-update':
        db.prepare('UPDATE ri SET v = v || ?, n = ? WHERE id = ?').run('!', e.n, e.at * 10)
        break
      case 'ri-insert':
        db.prepare('INSERT OR REPLACE INTO ri VALUES (?, ?, ?)').run(e.at, `new ${e.at}`, e.at % 7)
        break
      case 'ri-delete':
        db.prepare('DELETE FROM ri WHERE id BETWEEN ? AND ?').run(e.at * 10, (e.at + e.span) * 10)
        break
      case 'ri-index-only':
        // The index rebuilt elsewhere: index pages change, no row does.
        db.exec('DROP INDEX ri_n; CREATE INDEX ri_n ON ri(n)')
        break
      case 'rw-update':
        db.prepare("UPDATE rw SET v = v || '?' WHERE k = ?").run(`k${String(e.at).padStart(5, '0')}`)
        break
      case 'rw-insert':
        db.prepare('INSERT OR REPLACE INTO rw VALUES (?, ?)').run(`k${String(e.at).padStart(5, '0')}x`, 'inserted')
        break
      case 'wm-update':
        db.prepare("UPDATE wm SET v = v || '!' WHERE a = ?").run(mixedKey(e.at, e.key))
        break
      case 'wm-insert':
        db.prepare('INSERT OR REPLACE INTO wm VALUES (?, ?, ?)').run(mixedKey(e.at, e.key), e.b, 'inserted')
        break
      case 'wm-delete':
        db.prepare('DELETE FROM wm WHERE a = ?').run(mixedKey(e.at, e.key))
        break
      case 'wb-blob':
        db.prepare('INSERT OR REPLACE INTO wb VALUES (?, ?)').run(e.at, blobFor(e.seed, e.size))
        break
      case 'rr-update':
        db.prepare('UPDATE rr SET v = ? WHERE rowid = ?').run(e.v, e.at)
        break
      case 'rr-delete':
        db.prepare('DELETE FROM rr WHERE rowid = ?').run(e.at)
        break
      case 'ro-blob':
        // Same size: SQLite overwrites the overflow pages in place, leaving the leaf as it was.
        db.prepare('INSERT OR REPLACE INTO ro VALUES (?, ?)').run(e.at, blobFor(e.seed, e.size))
        break
    }
  }
}

/** Rewrite the last bytes of row `id`'s blob, same size: only the last page of its overflow chain changes. */
function tailRewrite(db: Database.Database, table: string, key: string, id: number): void {
  const { b } = db.prepare(`SELECT b FROM ${table} WHERE ${key} = ?`).get(id) as { b: Buffer }
  b.fill(0x5a, b.length - 100)
  db.prepare(`UPDATE ${table} SET b = ? WHERE ${key} = ?`).run(b, id)
}

describe('row diff from page ranges', () => {
  it('equals the whole-table comparison on random edits at both ends and in the middle', async () => {
    let run = 0
    let ranged = 0
    let keyRanged = 0
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 12 }), fc.array(edit, { maxLength: 4 }), async (left, right) => {
        run++
        const [x, y] = [`p${run}x`, `p${run}y`]
        await repo.createBranch(x)
        await repo.createBranch(y)
        await write(x, (db) => apply(db, left))
        if (right.length) await write(y, (db) => apply(db, right))
        const d = await expectSameAsExhaustive(y, x)
        await expectSameAsExhaustive(x, y)
        if (d.rows!.some((r) => r.method === 'ranges')) ranged++
        // WITHOUT ROWID tables with ascending keys by their columns' collations use key ranges,
        // unless a root page changed (every key may then have moved).
        for (const r of d.rows!.filter((r) => r.table === 'rw' || r.table === 'wm' || r.table === 'wb')) {
          if (r.method === 'full') expect(r.fullReason).toMatch(/root page differs/)
          else keyRanged++
        }
      }),
      { numRuns: 12 },
    )
    expect(keyRanged).toBeGreaterThan(0)
    // Most runs really compare ranges (not everything fell back to whole tables).
    expect(ranged).toBeGreaterThan(run / 2)
  })

  it('a one-row change reads a few pages per side and compares one range', async () => {
    await repo.createBranch('one')
    await write('one', "UPDATE ri SET v = 'changed' WHERE id = 15000")
    const d = await expectSameAsExhaustive('main', 'one')
    expect(d.tables!.map((x) => x.name).sort()).toEqual(['ri', 'sqlite_schema'])
    expect(byTable(d).ri).toMatchObject({ method: 'ranges', ranges: 1, changed: 1, fullReason: null })
    expect(byTable(d).ri!.rows.changed[0]).toEqual({ key: { id: 15000 }, before: { v: expect.stringMatching(/^row 1500 /) }, after: { v: 'changed' } })
    // A small database: SQLite's scattered reads look sequential and read ahead; the benchmark measures a large one.
    expect(d.read!.a.pages).toBeLessThan(d.a.pageCount / 4)
    expect(d.read!.b.pages).toBeLessThan(d.b.pageCount / 4)
  })

  it('a page split: many inserts inside one leaf', async () => {
    await repo.createBranch('split')
    // Nine wide rows between two neighbours: more than one leaf holds, so it splits.
    await write('split', (db) => {
      const ins = db.prepare('INSERT INTO ri VALUES (?, ?, ?)')
      for (let i = 15001; i <= 15009; i++) ins.run(i, 'z'.repeat(600), i)
    })
    const d = await expectSameAsExhaustive('main', 'split')
    expect(byTable(d).ri).toMatchObject({ method: 'ranges' })
    expect(d.read!.b.pages).toBeLessThan(d.b.pageCount / 2)
  })

  it('a page merge: a run of rows deleted', async () => {
    await repo.createBranch('merge')
    await write('merge', 'DELETE FROM ri WHERE id BETWEEN 5000 AND 12000')
    const d = await expectSameAsExhaustive('main', 'merge')
    expect(byTable(d).ri).toMatchObject({ method: 'ranges', removed: 701 })
  })

  it('VACUUM: tables it rebuilt are compared whole and say so; one it left in place keeps its ranges', async () => {
    await repo.createBranch('vacuum')
    await write('vacuum', "DELETE FROM rr WHERE rowid % 3 = 0; UPDATE ri SET v = 'after vacuum' WHERE id = 100")
    await write('vacuum', 'VACUUM')
    const d = await expectSameAsExhaustive('main', 'vacuum')
    expect(byTable(d).rr).toMatchObject({ method: 'full', removed: 500, fullReason: expect.stringMatching(/VACUUM/) })
    // ri comes first and lost no row: VACUUM writes it back page for page, so its ranges still hold.
    expect(byTable(d).ri).toMatchObject({ method: 'ranges', changed: 1 })
  })

  it('a dropped and re-created table falls back to the whole table and says so', async () => {
    await repo.createBranch('recreate')
    await write('recreate', `
      CREATE TABLE keep AS SELECT * FROM ro;
      DROP TABLE ro;
      CREATE TABLE ro (id INTEGER PRIMARY KEY, b BLOB);
      INSERT INTO ro SELECT * FROM keep; DROP TABLE keep;
      UPDATE ro SET b = x'00' WHERE id = 5;
    `)
    const d = await expectSameAsExhaustive('main', 'recreate')
    expect(byTable(d).ro).toMatchObject({ method: 'full', changed: 1, fullReason: expect.stringMatching(/dropped and created again/) })
  })

  for (const [table, key, id] of [['ro', 'id', 8], ['wb', 'k', 21]] as const) {
    it(`an overflow page rewritten in place maps back to its row (${table}: ${table === 'wb' ? 'WITHOUT ROWID' : 'rowid'})`, async () => {
      await repo.createBranch(`blob-${table}`)
      // Same size: the overflow pages are rewritten in place.
      await write(`blob-${table}`, (db) => tailRewrite(db, table, key, id))
      const d = await expectSameAsExhaustive('main', `blob-${table}`)
      // The database header and the chain's last page: the leaf keeps the blob's first bytes.
      expect(d.pages.changed).toBe(2)
      expect(byTable(d)[table]).toMatchObject({ changed: 1, method: 'ranges', ranges: 1, fullReason: null })
      expect(byTable(d)[table]!.rows.changed[0]!.key).toEqual({ [key]: id })
      expect(d.read!.b.pages).toBeLessThan(d.b.pageCount / 4)
    })
  }

  it('WITHOUT ROWID tables with mixed storage classes under NOCASE, and REAL keys stored as integers, compare only the key ranges that changed', async () => {
    await repo.createBranch('mixed')
    await write('mixed', (db) => {
      // Lower-case keys sort among upper-case ones: under BINARY a leaf's first and last key would bound other rows.
      // Values keep their length, so no leaf splits and the root stays as it was.
      for (let i = 5; i <= WM; i += 10) db.prepare('UPDATE wm SET v = upper(v) WHERE a = ? AND b = 3').run(`NAME${String(i).padStart(3, '0')}`)
      db.prepare('DELETE FROM wm WHERE a = ?').run(Buffer.from([71, 0xfe]))
      db.prepare('INSERT INTO wm VALUES (?, ?, ?)').run(70.5, 1, 'new')
      for (let i = 40; i <= 600; i += 80) db.prepare('UPDATE wf SET v = upper(v) WHERE k = ?').run(i / 2)
    })
    const d = await expectSameAsExhaustive('main', 'mixed')
    expect(byTable(d).wm).toMatchObject({ method: 'ranges', changed: WM / 10, removed: 1, added: 1, fullReason: null })
    expect(byTable(d).wm!.rows.changed[0]!.key).toEqual({ a: 'name005', b: 3 })
    expect(byTable(d).wf).toMatchObject({ method: 'ranges', changed: 8, fullReason: null })
    expect(byTable(d).wf!.rows.changed.map((r) => r.key.k)).toEqual([20, 60, 100, 140, 180, 220, 260, 300])
  })

  it('WITHOUT ROWID keys a row-value range cannot follow are compared whole, with the reason', async () => {
    await repo.createBranch('keys')
    await write('keys', (db) => {
      for (const t of ['wd', 'wc']) db.prepare(`UPDATE ${t} SET v = 'changed' WHERE k = ?`).run('k0200')
      db.prepare('DELETE FROM wk WHERE k = ?').run(blobFor(7, 3000))
    })
    const d = await expectSameAsExhaustive('main', 'keys')
    expect(byTable(d).wd).toMatchObject({ method: 'full', changed: 1, fullReason: expect.stringMatching(/sorts k DESC/) })
    expect(byTable(d).wc).toMatchObject({ method: 'full', changed: 1, fullReason: expect.stringMatching(/other collations than its columns/) })
    expect(byTable(d).wk).toMatchObject({ method: 'full', removed: 1, fullReason: expect.stringMatching(/key spills to overflow pages/) })
  })
})
