import { execFile, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { segmentKey } from '@strata/core/engine'
import { BIN, assertBuilt, json, strata } from './helpers.js'

// `strata sql` streams result rows: 200,000 rows through the spawned CLI in several formats,
// compared byte for byte with the sqlite3 shell's output where the formats are the same, with
// the child's peak memory bounded; and a reader that closes the pipe stops it quietly.

const ROWS = 200_000
const QUERY = 'SELECT id, name, version, size FROM packages ORDER BY id'
const PEAK = fileURLToPath(new URL('./support/report-peak.mjs', import.meta.url))
/** How far above an idle run (`SELECT 1`) the child's peak RSS may go, whatever the row count. */
const MAX_EXTRA_KIB = 64 * 1024

let dir = ''
let store = ''

/**
 * Run the CLI through `/bin/sh` with stdout to a file, and return its exit code, the file's text
 * and the child's peak RSS. The shell in between matters: Linux carries a process's peak RSS
 * across `execve`, so a child spawned straight from this test worker would report the worker's.
 */
async function measured(args: string[], out: string): Promise<{ code: number; stdout: string; stderr: string; peakKiB: number }> {
  const peakFile = `${out}.peak`
  const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`
  const command = `${[process.execPath, '--import', PEAK, BIN, '--store', store, ...args].map(quote).join(' ')} > ${quote(out)}`
  const env: NodeJS.ProcessEnv = { ...process.env, STRATA_CACHE_DIR: join(dir, 'cache'), STRATA_TEST_PEAK_FILE: peakFile }
  delete env.STRATA_STORE
  let code = 0
  let stderr = ''
  try {
    ;({ stderr } = await promisify(execFile)('/bin/sh', ['-c', command], { env }))
  } catch (e) {
    code = (e as { code: number }).code
    stderr = (e as { stderr: string }).stderr
  }
  return { code, stdout: readFileSync(out, 'utf8'), stderr, peakKiB: Number(readFileSync(peakFile, 'utf8')) }
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

function shell(args: string[], sql: string): string {
  const r = spawnSync('sqlite3', [...args, join(dir, 'app.db'), sql], { encoding: 'utf8', maxBuffer: 256 << 20 })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

beforeAll(async () => {
  assertBuilt()
  dir = await mkdtemp(join(tmpdir(), 'strata-sql-stream-'))
  store = join(dir, 'store')
  const db = new Database(join(dir, 'app.db'))
  db.exec(`CREATE TABLE packages (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version TEXT, size INTEGER);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
    INSERT INTO packages SELECT i, 'package-' || i, (i % 7) || '.' || (i % 13) || '.' || (i % 101), (i * 7919) % 1000003 FROM n;`)
  db.close()
  const repo = await Repository.init(new LocalStore(store))
  await repo.importDatabase(join(dir, 'app.db'))
  await repo.close()
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe(`${ROWS.toLocaleString('en')} rows through the spawned CLI`, () => {
  it('are streamed in every format with bounded memory; csv and json match the sqlite3 shell byte for byte', async () => {
    const idle = await measured(['sql', 'main', 'SELECT 1', '-q'], join(dir, 'idle.txt'))
    expect(idle.code, idle.stderr).toBe(0)

    const csv = await measured(['sql', 'main', QUERY, '--format', 'csv', '-q'], join(dir, 'out.csv'))
    expect(csv.code, csv.stderr).toBe(0)
    expect(csv.stdout.split('\n').length - 2).toBe(ROWS) // a header line, and a final newline
    expect(sha(csv.stdout)).toBe(sha(shell(['-csv', '-header'], QUERY)))

    const js = await measured(['sql', 'main', QUERY, '--format', 'json', '-q'], join(dir, 'out.json'))
    expect(js.code, js.stderr).toBe(0)
    expect(sha(js.stdout)).toBe(sha(shell(['-json'], QUERY)))
    expect((JSON.parse(js.stdout) as unknown[]).length).toBe(ROWS)

    const table = await measured(['sql', 'main', QUERY, '-q'], join(dir, 'out.txt'))
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.split('\n')
    expect(lines.length).toBe(ROWS + 4) // header, rule, rows, "(N rows)", final newline
    expect(lines[ROWS + 2]).toBe(`(${ROWS} rows)`)
    expect(lines[2]).toMatch(/^\s*1  package-1 /)

    const doc = await measured(['sql', 'main', QUERY, '--json'], join(dir, 'out.doc.json'))
    expect(doc.code, doc.stderr).toBe(0)
    const parsed = JSON.parse(doc.stdout) as { results: { rows: unknown[][] }[]; changed: boolean }
    expect(parsed.results[0]!.rows.length).toBe(ROWS)
    expect(parsed.results[0]!.rows[ROWS - 1]).toEqual([ROWS, `package-${ROWS}`, `${ROWS % 7}.${ROWS % 13}.${ROWS % 101}`, (ROWS * 7919) % 1000003])
    expect(parsed.changed).toBe(false)

    for (const [format, run] of Object.entries({ csv, json: js, table, document: doc })) {
      expect(run.peakKiB - idle.peakKiB, `${format}: peak ${run.peakKiB} KiB vs idle ${idle.peakKiB} KiB`).toBeLessThan(MAX_EXTRA_KIB)
    }
  })
})

describe('a reader that closes the pipe early (strata sql … | head -1)', () => {
  /** Spawn the CLI, read its first line, close its stdout; resolve its exit code and stderr. */
  function firstLineThenClose(args: string[]): Promise<{ first: string; code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, '--store', store, ...args], { env: { ...process.env, STRATA_CACHE_DIR: join(dir, 'cache') } })
    let stderr = ''
    let first = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      if (first.includes('\n')) return
      first += d.toString()
      if (first.includes('\n')) child.stdout.destroy()
    })
    return new Promise((resolve) => child.on('close', (code) => resolve({ first: first.split('\n')[0]!, code, stderr })))
  }

  // Endless but for the LIMIT: had strata not stopped, this would run for minutes.
  const HUGE = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 1000000000) SELECT i, printf(\'row %d\', i) AS label FROM n'

  it('stops a read-only script at once: exit 0, nothing on stderr', async () => {
    for (const format of ['table', 'csv', 'jsonl']) {
      const r = await firstLineThenClose(['sql', 'main', HUGE, '--format', format])
      expect(r, format).toMatchObject({ code: 0, stderr: '' })
      expect(r.first, format).toMatch(/i|\{"i":1/)
    }
  })

  it('stops a script that writes before it commits anything, and says so (exit 1)', async () => {
    const before = json<{ head: string }>(await strata(['--store', store, 'show', 'main', '--json']))
    const r = await firstLineThenClose(['sql', 'main', `DELETE FROM packages WHERE id = 1; ${HUGE}`, '--format', 'csv'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/the output was closed before the SQL finished; nothing was committed/)
    const after = json<{ id: string }>(await strata(['--store', store, 'show', 'main', '--json']))
    expect(after.id).toBe((before as unknown as { id: string }).id)
  })
})

describe('rows written by the native emitter (csv, tsv, json, jsonl, table)', () => {
  // Results from native code and from JavaScript (a statement that writes; the header lines),
  // interleaved: the bytes and their order must be those of the JavaScript writers alone.
  const SCRIPT = [
    "SELECT 'first' AS a",
    'SELECT id, name, version, size FROM packages WHERE id <= 30000',
    'CREATE TEMP TABLE seen (n)',
    'INSERT INTO seen SELECT count(*) FROM packages RETURNING n',
    'SELECT * FROM packages WHERE id < 0',
    "SELECT 'last' AS \"z,\"\"\", 1.5e300 AS r, x'00ff' AS b, NULL AS n",
  ].join('; ')

  it('print the results of a script in order, through a pipe and to a file, byte for byte as without the emitter', async () => {
    for (const format of ['csv', 'tsv', 'json', 'jsonl', 'table']) {
      const args = ['--store', store, 'sql', 'main', SCRIPT, '--format', format, '-q']
      const native = await strata(args, { env: { STRATA_CACHE_DIR: join(dir, 'cache') } })
      const js = await strata(args, { env: { STRATA_CACHE_DIR: join(dir, 'cache'), STRATA_VFS_EXTENSION: 'off' } })
      expect(native.code, native.stderr).toBe(0)
      expect(js.code, js.stderr).toBe(0)
      expect(native.stdout.length, format).toBeGreaterThan(30000 * 20)
      expect(sha(native.stdout), format).toBe(sha(js.stdout))
      if (format === 'csv') {
        const file = await measured(args.slice(2), join(dir, 'script.csv'))
        expect(file.code, file.stderr).toBe(0)
        expect(sha(file.stdout)).toBe(sha(js.stdout))
      }
    }
  })

  it('stop on a page the store cannot supply, after the rows before it, with the typed error', async () => {
    const broken = join(dir, 'broken-store')
    const repo = await Repository.init(new LocalStore(broken))
    const { snapshot } = await repo.importDatabase(join(dir, 'app.db'))
    const manifest = await repo.snapshot(snapshot)
    await repo.close()
    const last = segmentKey(manifest.segments[manifest.segments.length - 1]!.id)
    await rm(join(broken, ...last.split('/')))
    const r = await strata(['--store', broken, 'sql', 'main', QUERY, '--format', 'csv', '-q'], { env: { STRATA_CACHE_DIR: join(dir, 'broken-cache') } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(last)
    expect(r.stderr).toMatch(/does not exist in the store \(referenced by snapshot/) // the MissingObjectError, not SQLite's I/O error
    const expected = shell(['-csv', '-header'], QUERY)
    expect(r.stdout.split('\n').length).toBeGreaterThan(1000)
    expect(expected.startsWith(r.stdout)).toBe(true)
  })
})
