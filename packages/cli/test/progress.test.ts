import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../src/index.js'
import { captureIo } from './capture.js'

// Progress bars are drawn on stderr only when it is a terminal and neither --json nor --quiet
// is given; stdout never sees them.

let dir: string
let store: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-progress-'))
  store = join(dir, 'store')
  const db = new Database(join(dir, 'a.db'))
  db.exec("CREATE TABLE t (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t SELECT printf('%0100d', i) FROM n")
  db.close()
  expect(await run(['--store', store, 'init'], captureIo())).toBe(0)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('progress bars', () => {
  it('import and export draw a bar on a terminal stderr', async () => {
    const io = captureIo({}, true)
    expect(await run(['--store', store, 'import', join(dir, 'a.db'), '--branch', 'bar'], io)).toBe(0)
    expect(io.stderr.text).toMatch(/import upload \[[░█]+\] 100% (\d+)\/\1/)
    expect(io.stdout.text).toMatch(/^Imported .* as branch bar/)
    expect(io.stdout.text).not.toContain('█')

    const ex = captureIo({}, true)
    expect(await run(['--store', store, 'export', 'bar', join(dir, 'out.db')], ex)).toBe(0)
    expect(ex.stderr.text).toMatch(/export fetch \[[░█]+\] 100%/)
  })

  it('are not drawn with --quiet, with --json, or when stderr is not a terminal', async () => {
    for (const [flags, tty] of [[['--quiet'], true], [['--json'], true], [[], false]] as const) {
      const io = captureIo({}, tty)
      const branch = `b${flags.join('')}${tty}`.replace(/-/g, '')
      expect(await run(['--store', store, 'import', join(dir, 'a.db'), '--branch', branch, ...flags], io)).toBe(0)
      expect(io.stderr.text).toBe('')
    }
  })
})
