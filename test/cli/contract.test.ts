import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BIN, json, jsonError, listing, strata, useImportedStore, type CliRun } from './helpers.js'

// The CLI's contract with scripts: --json documents, exit codes, error reports, and that bad
// input is refused without writing anything to the store.

const fixture = useImportedStore('contract')
const cli = fixture.cli


/** A successful --json run: exit 0, one document on stdout, nothing on stderr. */
async function ok<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const r = await cli(...args, '--json')
  expect(r.code, r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  return json<T>(r)
}

/** Run a command that must fail and must not change the store; returns the run. */
async function refused(args: string[], expected: { code: number; error: string; message: RegExp }): Promise<CliRun> {
  const before = await listing(fixture.store)
  const human = await cli(...args)
  expect(human.code, human.stderr).toBe(expected.code)
  expect(human.stdout).toBe('')
  expect(human.stderr).toMatch(expected.message)
  if (expected.code === 2) expect(human.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Try: strata( [a-z]+)* --help$/)
  const machine = await cli(...args, '--json')
  expect(machine.code).toBe(expected.code)
  expect(machine.stdout).toBe('')
  expect(jsonError(machine)).toMatchObject({ code: expected.error, message: expect.stringMatching(expected.message), data: expect.any(Object) })
  expect(await listing(fixture.store)).toEqual(before)
  return human
}

describe('--json prints exactly one document on stdout for every command', () => {
  it('branch create, rename, list, sql, materialize, show, log, export, delete', async () => {
    expect(await ok('branch', 'create', 'shapes')).toMatchObject({ name: 'shapes', branchId: expect.any(String), head: expect.any(String) })
    expect(await ok('branch', 'rename', 'shapes', 'shapes2')).toMatchObject({ from: 'shapes', to: 'shapes2', branch: { name: 'shapes2' } })
    const list = await ok<{ branches: { name: string }[] }>('branch', 'list')
    expect(list.branches.map((b) => b.name)).toEqual(['main', 'shapes2'])

    const wrote = await ok('sql', 'shapes2', "CREATE TABLE t (x); INSERT INTO t VALUES (1), (x'0102'), (NULL), ('a'), (9007199254740993)")
    expect(wrote).toMatchObject({ branch: 'shapes2', statements: 2, changes: 5, results: [], changed: true, snapshot: expect.any(String) })
    const read = await ok('sql', 'shapes2', 'SELECT x, typeof(x) AS t FROM t ORDER BY rowid')
    expect(read).toMatchObject({
      changed: false,
      results: [
        {
          statement: 1,
          columns: ['x', 't'],
          rows: [[1, 'integer'], [{ $blob: '0102' }, 'blob'], [null, 'null'], ['a', 'text'], ['9007199254740993', 'integer']],
        },
      ],
    })

    const mat = await ok<{ snapshot: string; previous: string }>('materialize', 'shapes2', '-m', 'flatten')
    expect(mat).toMatchObject({ branch: 'shapes2', changed: true, snapshot: expect.any(String), previous: expect.any(String), mode: 'reference', pagesUploaded: 0 })
    expect(await ok('show', 'shapes2')).toMatchObject({ id: mat.snapshot, branch: 'shapes2', fallback: null, chain: [{ id: mat.snapshot }], pageSize: 4096 })
    expect(await ok('show', mat.snapshot.slice(0, 8))).toMatchObject({ id: mat.snapshot, branch: null })
    const log = await ok<{ entries: unknown[] }>('log', 'shapes2', '--limit', '1')
    expect(log.entries).toEqual([expect.objectContaining({ id: mat.snapshot, operation: 'materialize', message: 'flatten' })])
    expect(await ok('export', 'shapes2', 'shapes.db')).toMatchObject({ path: 'shapes.db', snapshot: mat.snapshot, check: null })
    const copied = await ok<{ snapshot: string; pageCount: number }>('materialize', 'shapes2', '--copy', '-m', 'copy')
    expect(copied).toMatchObject({ mode: 'copy', previous: mat.snapshot, pagesReferenced: 0, pagesUploaded: copied.pageCount })
    expect(await ok('export', 'shapes2', 'shapes-copy.db')).toMatchObject({ checksum: (await ok<{ checksum: string }>('show', mat.snapshot)).checksum })
    expect(await ok('branch', 'delete', 'shapes2')).toMatchObject({ deleted: 'shapes2', head: copied.snapshot })
    // Live branches leave no working files behind.
    expect(existsSync(join(fixture.dir, 'cache')) ? await readdir(join(fixture.dir, 'cache'), { recursive: true }) : []).not.toContainEqual(expect.stringMatching(/\.db$/))
  })

  it('gc --dry-run and verify', async () => {
    expect(await ok('gc', '--dry-run')).toMatchObject({ dryRun: true, deleted: expect.any(Array), freed: expect.any(Object) })
    expect(await ok('verify')).toMatchObject({ ok: true })
  })

  it('init on an existing repository is an error document on stderr', async () => {
    const r = await cli('init', '--json')
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(jsonError(r)).toMatchObject({ code: 'STRATA_REPOSITORY_EXISTS', data: { storeId: expect.any(String) } })
  })
})

describe('people get tables and summaries; logs go to stderr', () => {
  it('sql prints every result set as a table, as the sqlite3 shell does, and says on stderr that nothing was committed', async () => {
    const r = await cli('sql', 'main', 'SELECT 1; SELECT id, name FROM users ORDER BY id LIMIT 2')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(['1', '-', '1', '(1 row)', '', 'id  name', '--  ------', ' 1  user 1', ' 2  user 2', '(2 rows)', ''].join('\n'))
    expect(r.stderr).toMatch(/nothing committed/)
    const quiet = await cli('sql', 'main', 'SELECT 1', '--quiet')
    expect(quiet.stderr).toBe('')
  })

  it('branch list prints a table', async () => {
    const r = await cli('branch', 'list')
    expect(r.stdout).toMatch(/^BRANCH\s+HEAD\s+BASE/)
    expect(r.stdout).toMatch(/\nmain\s/)
  })

  it('the store may come from STRATA_STORE', async () => {
    const r = await strata(['branch', 'list', '--json'], { cwd: fixture.dir, env: { STRATA_STORE: fixture.store } })
    expect(r.code, r.stderr).toBe(0)
    expect(json<{ branches: unknown[] }>(r).branches.length).toBeGreaterThanOrEqual(1)
  })
})

describe('exit codes', () => {
  it('2 for usage errors, with a Try line', async () => {
    await refused(['branch', 'list', '--bogus'], { code: 2, error: 'STRATA_USAGE', message: /unknown option '--bogus'/ })
    await refused(['branch', 'create'], { code: 2, error: 'STRATA_USAGE', message: /missing required argument 'name'/ })
    await refused(['frobnicate'], { code: 2, error: 'STRATA_USAGE', message: /unknown command 'frobnicate'/ })
    await refused(['log', '--limit', '0'], { code: 2, error: 'STRATA_USAGE', message: /--limit must be a positive integer/ })
    await refused(['sql', 'main', ' ;; -- nothing'], { code: 2, error: 'STRATA_INVALID_ARGUMENT', message: /contains no statement/ })
    const noStore = await strata(['branch', 'list'], { cwd: fixture.dir })
    expect(noStore.code).toBe(2)
    expect(noStore.stderr).toMatch(/no store given: pass --store .* or set STRATA_STORE/)
    const badScheme = await strata(['--store', 'http://example.com/x', 'branch', 'list'], { cwd: fixture.dir })
    expect(badScheme.code).toBe(2)
    expect(badScheme.stderr).toMatch(/unsupported store URL/)
  })

  it('0 for --help and --version', async () => {
    const v = await strata(['--version'])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/)
    const h = await strata(['sql', '--help'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('Example:')
  })

  it('0 and silence when the reader closes stdout early (strata … | head)', async () => {
    const child = spawn(process.execPath, [BIN, 'branch', 'list'], { cwd: fixture.dir, env: { ...process.env, STRATA_STORE: fixture.store } })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })

  it('1 for a store without a repository, which is not created', async () => {
    const missing = join(fixture.dir, 'no-such-store')
    const r = await strata(['--store', missing, 'branch', 'list'], { cwd: fixture.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/is not a Strata repository; create one with `strata init`/)
    expect(existsSync(missing)).toBe(false)
  })

  it('3 when verify finds problems', async () => {
    const damaged = join(fixture.dir, 'damaged')
    const d = (...args: string[]) => strata(['--store', damaged, ...args], { cwd: fixture.dir })
    expect((await d('init')).code).toBe(0)
    expect((await d('import', 'app.db')).code).toBe(0)
    const segments = (await readdir(join(damaged, 'segments'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile())
    expect(segments.length).toBeGreaterThan(0)
    await unlink(join(segments[0]!.parentPath, segments[0]!.name))
    const human = await d('verify')
    expect(human.code).toBe(3)
    expect(human.stdout + human.stderr).toMatch(/segment/i)
    const machine = await d('verify', '--json')
    expect(machine.code).toBe(3)
    expect(json(machine)).toMatchObject({ ok: false })
  })
})

describe('bad input is refused with a clear message and nothing written', () => {
  it('a missing file', async () => {
    await refused(['import', 'missing.db', '--branch', 'x'], { code: 1, error: 'STRATA_INVALID_DATABASE', message: /missing\.db .*does not exist/ })
    expect(existsSync(join(fixture.dir, 'missing.db'))).toBe(false)
  })

  it('a file that is not SQLite', async () => {
    await writeFile(join(fixture.dir, 'notes.txt'), 'these are not the pages you are looking for\n'.repeat(200))
    await refused(['import', 'notes.txt', '--branch', 'notes'], { code: 1, error: 'STRATA_INVALID_DATABASE', message: /notes\.txt is not a usable SQLite database/ })
  })

  it('an unknown branch', async () => {
    await refused(['branch', 'create', 'x', '--from', 'nope'], { code: 1, error: 'STRATA_BRANCH_NOT_FOUND', message: /no branch named "nope"/ })
    await refused(['sql', 'nope', 'SELECT 1'], { code: 1, error: 'STRATA_BRANCH_NOT_FOUND', message: /no branch named "nope"/ })
    await refused(['export', 'nope', 'nope.db'], { code: 1, error: 'STRATA_BRANCH_NOT_FOUND', message: /no branch named "nope"/ })
    expect(existsSync(join(fixture.dir, 'nope.db'))).toBe(false)
    await refused(['branch', 'delete', 'nope'], { code: 1, error: 'STRATA_BRANCH_NOT_FOUND', message: /no branch named "nope"/ })
  })

  it('an invalid name', async () => {
    await refused(['branch', 'create', 'bad name'], { code: 2, error: 'STRATA_INVALID_NAME', message: /invalid name "bad name"/ })
    await refused(['import', 'app.db', '--branch', 'a//b'], { code: 2, error: 'STRATA_INVALID_NAME', message: /invalid name "a\/\/b"/ })
    await refused(['branch', 'rename', 'main', '../x'], { code: 2, error: 'STRATA_INVALID_NAME', message: /invalid name/ })
  })

  it('SQL that fails commits nothing, even after statements that succeeded', async () => {
    await refused(['sql', 'main', 'SELEC 1'], { code: 1, error: 'STRATA_SQL_ERROR', message: /syntax error/ })
    await refused(['sql', 'main', "UPDATE users SET name = 'x'; INSERT INTO nowhere VALUES (1)"], {
      code: 1,
      error: 'STRATA_SQL_ERROR',
      message: /statement 2 .*no such table: nowhere.*nothing was committed/,
    })
    await refused(['sql', 'main', "BEGIN; UPDATE users SET name = 'y'"], { code: 1, error: 'STRATA_SQL_ERROR', message: /transaction open/ })
    const count = json<{ results: { rows: number[][] }[] }>(await cli('sql', 'main', 'SELECT count(*) FROM users', '--json'))
    expect(count.results[0]!.rows).toEqual([[300]])
  })

  it('main cannot be deleted', async () => {
    await refused(['branch', 'delete', 'main'], { code: 1, error: 'STRATA_PROTECTED_BRANCH', message: /cannot be deleted/ })
  })
})
