import { openSync, closeSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runStatement, type EmitFormat } from '@strata/sqlite'
import { resultWriter } from '../src/sql-output.js'

// `strata sql --format csv|tsv|json|jsonl|table` prints the rows of a read-only statement from native
// code (`StatementRun.emit`, the @strata/vfs extension). Its bytes must be exactly those of the
// JavaScript writers fed with better-sqlite3's values: random tables of text (quotes, commas,
// newlines, control characters, any code point, and invalid UTF-8), integers near ±2^53 and
// ±2^63, doubles of every kind, blobs and NULLs, under random column names; long enough to be
// cut in a table's cells, and more rows than the table sizes its columns from.

const FORMATS: readonly EmitFormat[] = ['csv', 'tsv', 'json', 'jsonl', 'table']

let dir = ''
let files = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-native-output-'))
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Run `body` on a new in-memory database, closed after it. */
function inMemory(body: (db: Database.Database) => void): void {
  const db = new Database(':memory:')
  try {
    body(db)
  } finally {
    db.close()
  }
}

/** A result printed by the JavaScript writer. */
function jsOutput(db: Database.Database, sql: string, format: EmitFormat): Buffer {
  let out = ''
  const run = runStatement(db, sql)
  const w = resultWriter(format, (t) => (out += t), null)
  w.begin(1, run.columns!)
  for (const row of run.rows) w.row(row)
  w.end()
  return Buffer.from(out)
}

/** The same result, its rows written by the native emitter into a file (header and end from the writer, as `strata sql` does). */
function nativeOutput(db: Database.Database, sql: string, format: EmitFormat): Buffer {
  let head = ''
  const run = runStatement(db, sql)
  const w = resultWriter(format, (t) => (head += t), null)
  w.begin(1, run.columns!)
  const path = join(dir, `out-${files++}`)
  const fd = openSync(path, 'w')
  let written: number | 'closed' | null
  try {
    written = run.emit(fd, format)
  } finally {
    closeSync(fd)
  }
  expect(typeof written, 'the native emitter ran').toBe('number')
  const before = head
  w.emitted(written as number)
  w.end()
  return Buffer.concat([Buffer.from(before), readFileSync(path), Buffer.from(head.slice(before.length))])
}

/** One cell: its SQL placeholder and the value bound to it. */
type Cell = { sql: string; value: unknown }

const special = fc.constantFrom('"', ',', '\n', '\r', '\t', '\\', '\u0000', '\u0001', '\u001f', '\u007f', '\u2028', 'é', '😀', '\ud800', 'x', ' ')
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.array(special, { maxLength: 10 }).map((a) => a.join('')),
  // Around a table cell's limit of 60 UTF-16 units, where a cut may split a pair or an escape.
  fc.array(fc.oneof(fc.constantFrom('a', '😀', '\r\n', '\t', ' ', '\u3000'), special), { minLength: 55, maxLength: 64 }).map((a) => a.join('')),
)
const byte = fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0x00, 0x0a, 0x22, 0x2c, 0x41, 0x5c, 0xc3, 0xa9, 0xed, 0xa0, 0xf0, 0x9f, 0xf4, 0x90, 0xe0))
const P53 = 2n ** 53n
const P63 = 2n ** 63n
const integer = fc.oneof(
  fc.bigInt({ min: -P63, max: P63 - 1n }),
  fc.bigInt({ min: P53 - 3n, max: P53 + 3n }),
  fc.bigInt({ min: -P53 - 3n, max: -P53 + 3n }),
  fc.constantFrom(P63 - 1n, -P63, 0n, -1n),
  fc.bigInt({ min: -1000n, max: 1000n }),
)
const bits = new DataView(new ArrayBuffer(8))
const anyDouble = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((b) => {
  bits.setBigUint64(0, b)
  return bits.getFloat64(0)
})
const double = fc.oneof(
  fc.double(),
  anyDouble,
  fc.constantFrom(-0, 1e21, 1e-7, 1e-6, 123e-20, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 2 ** 53, 0.1 + 0.2, 1 / 3, 100, 1.5, -2.5e-5, Infinity, -Infinity),
  fc.integer({ min: -1e6, max: 1e6 }).map((i) => i / 64),
)
const cell: fc.Arbitrary<Cell> = fc.oneof(
  text.map((value) => ({ sql: '?', value })),
  fc.array(byte, { maxLength: 10 }).map((a) => ({ sql: 'CAST(? AS TEXT)', value: Buffer.from(a) })), // invalid UTF-8, as text
  integer.map((value) => ({ sql: '?', value })),
  double.map((value) => ({ sql: '?', value })),
  fc.uint8Array({ maxLength: 40 }).map((a) => ({ sql: '?', value: Buffer.from(a) })),
  fc.constant({ sql: '?', value: null }),
)
const columnName = fc.oneof(fc.string({ maxLength: 6 }), fc.array(special, { maxLength: 4 }).map((a) => a.join(''))).filter((s) => !s.includes('\u0000'))

describe('the native emitter writes the bytes of the JavaScript writers', () => {
  it('for random tables, in every format it serves', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((width) =>
          fc.record({
            names: fc.array(columnName, { minLength: width, maxLength: width }),
            rows: fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 12 }),
          }),
        ),
        ({ names, rows }) =>
          inMemory((db) => {
            const cols = names.map((_, i) => `c${i}`)
            db.exec(`CREATE TABLE t (${cols.join(', ')})`) // no types, so no affinity changes a value
            for (const r of rows) db.prepare(`INSERT INTO t VALUES (${r.map((c) => c.sql).join(', ')})`).run(...r.map((c) => c.value))
            const sql = `SELECT ${cols.map((c, i) => `${c} AS "${names[i]!.replace(/"/g, '""')}"`).join(', ')} FROM t ORDER BY rowid`
            for (const format of FORMATS) {
              const js = jsOutput(db, sql, format)
              const native = nativeOutput(db, sql, format)
              if (!native.equals(js)) expect({ format, native: native.toString('latin1') }).toEqual({ format, native: js.toString('latin1') })
            }
          }),
      ),
      { numRuns: 300 },
    )
  })

  it('for 20,000 random doubles and every power of two, as JavaScript prints numbers', () =>
    inMemory((db) => {
      db.exec('CREATE TABLE d (x)')
      const ins = db.prepare('INSERT INTO d VALUES (?)')
      // At a power of two the gap to the next lower double is half the gap above: there, some
      // shortest forms are not the nearest decimal of their length but its neighbour.
      const powers = Array.from({ length: 2098 }, (_, i) => 2 ** (i - 1074))
      const values = [...fc.sample(double, { numRuns: 20_000, seed: 23 }), ...powers, ...powers.map((p) => -p)]
      db.transaction(() => values.forEach((v) => ins.run(v)))()
      for (const format of ['csv', 'json'] as const) {
        const js = jsOutput(db, 'SELECT x FROM d', format).toString()
        const native = nativeOutput(db, 'SELECT x FROM d', format).toString()
        const a = js.split('\n')
        const b = native.split('\n')
        const differ = a.map((line, i) => [line, b[i]]).filter(([x, y]) => x !== y)
        expect(differ.slice(0, 5), format).toEqual([])
        expect(b.length).toBe(a.length)
      }
    }))

  it('a table sizes its columns from the first rows; later, wider values overflow, as in JavaScript', () =>
    inMemory((db) => {
      // Rows 1..1000 size the columns; the later ones are wider, negative, text in a numeric column.
      const sql = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
        SELECT i, CASE WHEN i > 1000 THEN -i * 1000 ELSE i END AS "wide number",
               CASE WHEN i % 700 = 0 THEN printf('%.*c', i % 90, 'w') ELSE 'v' || i END AS t,
               CASE WHEN i = 1500 THEN 'text' WHEN i % 3 = 0 THEN NULL ELSE i / 7.0 END AS r
        FROM n`
      for (const format of FORMATS) expect(nativeOutput(db, sql, format).toString(), format).toBe(jsOutput(db, sql, format).toString())
    }))

  it('a table line is trimmed as String.prototype.trimEnd trims it', () =>
    inMemory((db) => {
      db.exec('CREATE TABLE w (a, b)')
      const ins = db.prepare('INSERT INTO w VALUES (?, ?)')
      // Every character trimEnd removes, and some it keeps (U+180E, U+200B, U+FFFD, U+0085).
      const ends = [...'\t\u000b\f \u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\r', '\u180e', '\u200b', '\ufffd', '\u0085', 'x']
      for (const e of ends) {
        ins.run('a' + e, 'b' + e + e)
        ins.run('a', e)
      }
      for (const format of FORMATS) expect(nativeOutput(db, 'SELECT a, b FROM w', format).toString(), format).toBe(jsOutput(db, 'SELECT a, b FROM w', format).toString())
    }))

  it('writes the rows before an error, then throws the error iterating throws, and the output closes as in JavaScript', () =>
    inMemory((db) => {
      for (const failAt of [4, 1500]) {
        const sql = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${failAt}) SELECT i, CASE WHEN i >= ${failAt} THEN abs(-9223372036854775807 - 1) ELSE 'ok' END AS v FROM n`
        for (const format of FORMATS) {
          let js = ''
          let jsError: unknown
          const jw = resultWriter(format, (t) => (js += t), null)
          const jsRun = runStatement(db, sql)
          jw.begin(1, jsRun.columns!)
          try {
            for (const row of jsRun.rows) jw.row(row)
          } catch (e) {
            jsError = e
            jw.abort('STRATA_SQL_ERROR')
          }

          let head = ''
          const nw = resultWriter(format, (t) => (head += t), null)
          const run = runStatement(db, sql)
          nw.begin(1, run.columns!)
          const before = head
          const path = join(dir, `error-${files++}`)
          const fd = openSync(path, 'w')
          let nativeError: unknown
          try {
            run.emit(fd, format)
          } catch (e) {
            nativeError = e
            nw.emitted(run.emitted!)
            nw.abort('STRATA_SQL_ERROR')
          } finally {
            closeSync(fd)
          }
          expect(run.emitted, format).toBe(failAt - 1)
          expect(before + readFileSync(path, 'utf8') + head.slice(before.length), `${format}, failing at row ${failAt}`).toBe(js)
          expect(nativeError).toBeInstanceOf(Database.SqliteError)
          expect({ code: (nativeError as { code: string }).code, message: (nativeError as Error).message }).toEqual({
            code: (jsError as { code: string }).code,
            message: (jsError as Error).message,
          })
        }
      }
      expect(db.prepare('SELECT 1 AS x').get()).toEqual({ x: 1 }) // the connection is usable
    }))

  it('declines a statement that writes; its rows come from iterating', () =>
    inMemory((db) => {
      db.exec('CREATE TABLE t (a)')
      const fd = openSync(join(dir, 'declined'), 'w')
      try {
        expect(runStatement(db, 'INSERT INTO t VALUES (1) RETURNING a').emit(fd, 'csv')).toBeNull()
      } finally {
        closeSync(fd)
      }
      expect(readFileSync(join(dir, 'declined'), 'utf8')).toBe('')
      expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 }) // not run by emit
    }))
})
