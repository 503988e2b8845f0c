import { Readable } from 'node:stream'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { run } from '../src/index.js'
import { TABLE_SIZING_ROWS, resultWriter, type SqlFormat } from '../src/sql-output.js'
import { table } from '../src/render.js'
import { captureIo } from './capture.js'

const COLUMNS = ['id', 'text', 'blob', 'nothing']
const ROWS: unknown[][] = [
  [1n, 'plain', Uint8Array.of(1, 2), null],
  [2n, 'a, "quoted"\nline\tand \\ tab', Uint8Array.of(), null],
  [9007199254740993n, 'é', Uint8Array.of(255), 1.5],
]

function render(format: SqlFormat, results: { columns: string[]; rows: unknown[][] }[], document: { branch: string } | null = null): string {
  let out = ''
  const w = resultWriter(format, (t) => (out += t), document)
  results.forEach((r, i) => {
    w.begin(i + 1, r.columns)
    for (const row of r.rows) w.row(row)
    w.end()
  })
  w.finish({ changed: false })
  return out
}

describe('result formats', () => {
  it('csv quotes what RFC 4180 needs, NULL is empty, blobs are hex literals', () => {
    expect(render('csv', [{ columns: COLUMNS, rows: ROWS }])).toBe(
      ['id,text,blob,nothing', "1,plain,x'0102',", `2,"a, ""quoted""\nline\tand \\ tab",x'',`, "9007199254740993,é,x'ff',1.5", ''].join('\n'),
    )
  })

  it('tsv keeps one row per line by escaping tab, newline, CR and backslash', () => {
    expect(render('tsv', [{ columns: COLUMNS, rows: ROWS.slice(1, 2) }])).toBe('id\ttext\tblob\tnothing\n2\ta, "quoted"\\nline\\tand \\\\ tab\tx\'\'\t\n')
  })

  it('json is one array of objects per result (as sqlite3 -json), jsonl one object per line', () => {
    const json = render('json', [{ columns: COLUMNS, rows: ROWS }, { columns: ['x'], rows: [] }])
    const [first, second] = json.trimEnd().split(/\n(?=\[)/)
    expect(JSON.parse(first!)).toEqual([
      { id: 1, text: 'plain', blob: { $blob: '0102' }, nothing: null },
      { id: 2, text: 'a, "quoted"\nline\tand \\ tab', blob: { $blob: '' }, nothing: null },
      { id: '9007199254740993', text: 'é', blob: { $blob: 'ff' }, nothing: 1.5 },
    ])
    expect(second).toBe('[]')
    const lines = render('jsonl', [{ columns: COLUMNS, rows: ROWS }]).trimEnd().split('\n')
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(JSON.parse(first!))
  })

  it('the --json document holds every result and the closing fields', () => {
    const doc = JSON.parse(render('table', [{ columns: ['a'], rows: [[1n], [2n]] }, { columns: ['b'], rows: [] }], { branch: 'main' }))
    expect(doc).toEqual({
      branch: 'main',
      results: [
        { statement: 1, columns: ['a'], rows: [[1], [2]] },
        { statement: 2, columns: ['b'], rows: [] },
      ],
      changed: false,
    })
    expect(JSON.parse(render('table', [], { branch: 'b' }))).toEqual({ branch: 'b', results: [], changed: false })
  })

  it('a failing script leaves well-formed output: what came before, closed; no --json document if nothing came before', () => {
    const failing = (format: SqlFormat, document: { branch: string } | null, rows: number): string => {
      let out = ''
      const w = resultWriter(format, (t) => (out += t), document)
      if (rows > 0) {
        w.begin(1, ['a'])
        for (let i = 0; i < rows; i++) w.row([BigInt(i)])
      }
      w.abort('STRATA_SQL_ERROR')
      return out
    }
    expect(failing('table', { branch: 'main' }, 0)).toBe('')
    expect(JSON.parse(failing('table', { branch: 'main' }, 2))).toEqual({ branch: 'main', results: [{ statement: 1, columns: ['a'], rows: [[0], [1]] }], error: 'STRATA_SQL_ERROR' })
    expect(JSON.parse(failing('json', null, 2))).toEqual([{ a: 0 }, { a: 1 }])
    expect(failing('table', null, 2)).toBe('a\n-\n0\n1\n')
    expect(failing('table', null, 0)).toBe('')
  })

  it(`the table sizes columns from the first ${TABLE_SIZING_ROWS} rows; a later wider value overflows`, () => {
    const rows = Array.from({ length: TABLE_SIZING_ROWS }, (_, i) => [BigInt(i), 'x'])
    const out = render('table', [{ columns: ['n', 'v'], rows: [...rows, [1n, 'much wider']] }]).split('\n')
    expect(out[0]).toBe('n    v')
    expect(out[2]).toBe('  0  x')
    expect(out[TABLE_SIZING_ROWS + 2]).toBe('  1  much wider')
    expect(out[TABLE_SIZING_ROWS + 3]).toBe(`(${TABLE_SIZING_ROWS + 1} rows)`)
    // Small results are laid out exactly as the table of every other command.
    expect(render('table', [{ columns: ['n', 'v'], rows: [[1n, 'a'], [22n, 'bb']] }])).toBe([...table(['n', 'v'], [[1n, 'a'], [22n, 'bb']]), '(2 rows)', ''].join('\n'))
  })

  it('table() lays out any number of rows (no spread into one call)', () => {
    const many = Array.from({ length: 200_000 }, (_, i) => [i])
    expect(table(['n'], many).length).toBe(200_002)
  })
})

describe('strata sql --help', () => {
  it('documents the formats and the table sizing, -f and stdin, the foreign-keys default and --retry', async () => {
    const io = captureIo()
    expect(await run(['sql', '--help'], io)).toBe(0)
    for (const needle of [
      '-f, --file <path>',
      '(- reads them from',
      `sized from the first ${TABLE_SIZING_ROWS} rows of each result; a later,`,
      'csv     RFC 4180',
      'jsonl   one object per row and line',
      'Foreign keys are enforced (on) by default, unlike the sqlite3 shell',
      '--foreign-keys off runs the script without the check',
      'runs again on the new head (up to n more times)',
      'must not depend on anything outside the database',
      'ATTACH is refused',
      '$ strata sql experiment -f migration.sql --retry 5',
    ]) {
      expect(io.stdout.text).toContain(needle)
    }
  })
})

describe('strata sql reads its SQL from the argument, a file or stdin', () => {
  let dir = ''
  const argv = (...args: string[]): string[] => ['--store', join(dir, 'store'), ...args, '--cache-dir', join(dir, 'cache')]

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-sql-source-'))
    const db = new Database(join(dir, 'app.db'))
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), ('three')")
    db.close()
    const repo = await Repository.init(new LocalStore(join(dir, 'store')))
    await repo.importDatabase(join(dir, 'app.db'))
    await repo.close()
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('-f <file>, -f - and - read the same script', async () => {
    await writeFile(join(dir, 'q.sql'), 'SELECT count(*) AS n FROM t;\n-- done\n')
    for (const args of [['-f', join(dir, 'q.sql')], ['-f', '-'], ['-']]) {
      const io = { ...captureIo(), stdin: Readable.from(['SELECT count(*) ', 'AS n FROM t;']) }
      expect(await run(argv('sql', 'main', ...args, '--format', 'csv', '-q'), io), io.stderr.text).toBe(0)
      expect(io.stdout.text).toBe('n\n3\n')
    }
  })

  it('refuses two sources, none, an unreadable file, and --json with --format', async () => {
    for (const [args, message] of [
      [['SELECT 1', '-f', 'q.sql'], /either as an argument or with -f <file>, not both/],
      [[], /none given: pass it as an argument, with -f <file>, or - to read it from stdin/],
      [['-f', join(dir, 'missing.sql')], /invalid --file: cannot read .*missing\.sql/],
      [['SELECT 1', '--json', '--format', 'csv'], /use one of --json and --format/],
      [['SELECT 1', '--format', 'xml'], /argument 'xml' is invalid. Allowed choices are table, csv, tsv, json, jsonl/],
      [['SELECT 1', '--foreign-keys', 'maybe'], /Allowed choices are on, off/],
    ] as const) {
      const io = captureIo()
      expect(await run(argv('sql', 'main', ...args), io)).toBe(2)
      expect(io.stderr.text).toMatch(message)
      if (!(args as readonly string[]).includes('--json')) expect(io.stderr.text).toMatch(/Try: strata sql --help/)
    }
  })
})
