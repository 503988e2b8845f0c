import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runStatement } from '../src/index.js'

// `runStatement(...).push` hands a query's rows to a callback from inside SQLite. It must give
// exactly the rows `rows` gives, in the same order, for every query it accepts, and decline
// (null) what it cannot run that way.

let db: Database.Database

beforeAll(() => {
  db = new Database(':memory:')
  db.exec(`
    CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL, data BLOB);
    CREATE INDEX t_grp ON t (grp);
    CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER, note TEXT);
  `)
  const ins = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?)')
  const insU = db.prepare('INSERT INTO u VALUES (?, ?, ?)')
  for (let i = 1; i <= 3000; i++) {
    ins.run(i, i % 7 === 0 ? null : `name-${(i * 7919) % 3001}${i % 11 === 0 ? ',"q"\n' : ''}`, i % 13, i % 5 === 0 ? null : i / 7, i % 17 === 0 ? Buffer.from([i & 255, 0]) : null)
    if (i % 3 === 0) insU.run(i, (i * 31) % 3000, `note ${i}`)
  }
  ins.run(9007199254740993n, 'big', -1, 1e300, null)
})

afterAll(() => db.close())

/** The rows through `push`, pausing every `every` rows; null if `push` declines. */
function pushed(sql: string, every = 100): unknown[][] | null {
  const out: unknown[][] = []
  const pauses = runStatement(db, sql).push((row) => out.push(row) % every === 0)
  if (!pauses) return null
  let n = 0
  for (const _ of pauses) {
    n++
    expect(out.length).toBe(n * every) // a pause comes right after the row that asked for it
  }
  return out
}

const iterated = (sql: string): unknown[][] => [...runStatement(db, sql).rows]

const QUERIES: [string, boolean][] = [
  // [query, whether push must take it]
  ['SELECT * FROM t', true],
  ['SELECT id, name, score FROM t WHERE grp = 3', true],
  ['SELECT * FROM t ORDER BY name, id', true],
  ['SELECT * FROM t ORDER BY score DESC, id LIMIT 50 OFFSET 7', true],
  ['SELECT name FROM t ORDER BY name LIMIT 5', true],
  ['SELECT * FROM t LIMIT 10', true],
  ['SELECT DISTINCT grp FROM t', true],
  ['SELECT grp, count(*), group_concat(id) FROM t GROUP BY grp', true],
  ['SELECT grp, count(*) FROM t GROUP BY grp ORDER BY 2 DESC, 1', true],
  ['SELECT id, row_number() OVER (PARTITION BY grp ORDER BY name) FROM t', true],
  ['SELECT id FROM t WHERE grp = 1 UNION ALL SELECT id FROM u', true],
  ['SELECT id FROM t UNION SELECT t_id FROM u ORDER BY 1 DESC', true],
  ['SELECT t.id, u.note FROM t JOIN u ON u.t_id = t.id ORDER BY u.note', true],
  ['SELECT t.id, u.note FROM t LEFT JOIN u ON u.t_id = t.id', true],
  ['SELECT * FROM t WHERE id IN (SELECT t_id FROM u ORDER BY note LIMIT 20)', true],
  ['WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i, i * i FROM n', true],
  ['WITH x AS (SELECT id, name FROM t ORDER BY name) SELECT * FROM x', true],
  ['VALUES (1, 2), (3, 4)', true],
  ['SELECT 1, 1, 2', true],
  ['SELECT 1 AS a; ', true],
  ['SELECT id FROM t -- a comment at the end', true],
  ['SELECT id, (SELECT count(*) FROM u WHERE u.t_id = t.id) FROM t ORDER BY 2, 1', true],
  ['SELECT random() IS NOT NULL FROM t LIMIT 3', true],
  ['PRAGMA table_info(t)', false],
  ['EXPLAIN SELECT * FROM t', false],
]

describe('runStatement push', () => {
  for (const [sql, taken] of QUERIES) {
    it(`${sql}: ${taken ? 'the same rows as iterating, in order' : 'declined'}`, () => {
      const rows = pushed(sql)
      if (!taken) {
        expect(rows).toBeNull()
        return
      }
      expect(rows).not.toBeNull()
      expect(rows).toEqual(iterated(sql))
    })
  }

  it('declines a statement that writes (its rows come from iterating, as before)', () => {
    const run = runStatement(db, "INSERT INTO u (t_id, note) VALUES (1, 'x') RETURNING id")
    expect(run.push(() => false)).toBeNull()
    expect([...run.rows]).toHaveLength(1)
  })

  it('stops the statement when the reader leaves early, and the connection stays usable', () => {
    const pauses = runStatement(db, 'SELECT * FROM t').push(() => true)!
    pauses.next()
    pauses.return!()
    expect(iterated('SELECT count(*) FROM t')).toEqual([[3001n]])
    expect(pushed('SELECT id FROM t WHERE id <= 3', 1)).toEqual([[1n], [2n], [3n]])
  })

  it('an error while the rows are read is thrown from the step, after the rows before it', () => {
    const sql = 'SELECT id, CASE WHEN id = 5 THEN abs(-9223372036854775807 - 1) ELSE id END FROM t'
    const before: unknown[][] = []
    expect(() => {
      for (const row of runStatement(db, sql).rows) before.push(row)
    }).toThrow(/integer overflow/)
    const out: unknown[][] = []
    const pauses = runStatement(db, sql).push((r) => (out.push(r), false))!
    expect(() => [...pauses]).toThrow(/integer overflow/)
    expect(out).toEqual(before)
    expect(out.length).toBeGreaterThan(0)
  })

  it('random filters, orders and limits: the same rows as iterating', () => {
    const column = fc.constantFrom('id', 'name', 'grp', 'score', 'data', 'name || grp', 'score * grp')
    fc.assert(
      fc.property(
        fc.array(column, { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 12 })),
        fc.array(fc.tuple(column, fc.boolean()), { maxLength: 3 }),
        fc.option(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 50 }))),
        fc.boolean(),
        (columns, grp, order, limit, distinct) => {
          const sql =
            `SELECT ${distinct ? 'DISTINCT ' : ''}${columns.join(', ')} FROM t` +
            (grp === null ? '' : ` WHERE grp >= ${grp}`) +
            (order.length ? ` ORDER BY ${order.map(([c, d]) => `${c}${d ? ' DESC' : ''}`).join(', ')}, id` : '') +
            (limit ? ` LIMIT ${limit[0]} OFFSET ${limit[1]}` : '')
          const rows = pushed(sql, 37)
          // Declining is allowed; giving different rows is not.
          if (rows) expect(rows).toEqual(iterated(sql))
        },
      ),
      { numRuns: 120 },
    )
  })
})
