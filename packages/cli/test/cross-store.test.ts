import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../src/index.js'
import { captureIo } from './capture.js'

// The CLI side of stacking across stores, in-process on local directories: --from <url>#<ref>,
// --allow-store / STRATA_ALLOW_STORES, --no-pin, show's pin note, pins, repoint, doctor, and
// init's refusal of stores without compare-and-swap. The S3 version is in the root test suite.

let dir: string
let base: string
let baseUrl: string
let local: string

async function strata(args: string[], env: Record<string, string | undefined> = {}) {
  const io = captureIo(env)
  const code = await run(args, io)
  return { code, stdout: io.stdout.text, stderr: io.stderr.text }
}

async function json<T = Record<string, any>>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  const r = await strata([...args, '--json'], env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as T
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-cross-'))
  base = join(dir, 'base')
  baseUrl = pathToFileURL(base).href
  local = join(dir, 'local')
  const db = new Database(join(dir, 'app.db'))
  db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO users SELECT i, printf('user %d', i) FROM n")
  db.close()
  expect((await strata(['--store', base, 'init'])).code).toBe(0)
  expect((await strata(['--store', base, 'import', join(dir, 'app.db')])).code).toBe(0)
  expect((await strata(['--store', local, 'init'])).code).toBe(0)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('strata across stores', () => {
  it('refuses a base store that is not allowed, naming it, and writes nothing', async () => {
    const r = await strata(['--store', local, 'branch', 'create', 'mine', '--from', `${baseUrl}#main`, '--json'])
    expect(r.code).toBe(1)
    const err = JSON.parse(r.stderr).error
    expect(err).toMatchObject({ code: 'STRATA_STORE_NOT_ALLOWED', data: { url: baseUrl, snapshot: 'main' } })
    expect(err.hint).toMatch(/--allow-store/)
    expect((await json<{ branches: unknown[] }>(['--store', local, 'branch', 'list'])).branches).toEqual([])
  })

  it('creates a pinned branch from <url>#<branch>, runs SQL on it and exports it', async () => {
    const created = await json(['--store', local, '--allow-store', base, 'branch', 'create', 'mine', '--from', `${base}#main`])
    expect(created.crossStore).toMatchObject({ store: { url: baseUrl }, branch: 'main', pinned: true })
    const env = { STRATA_ALLOW_STORES: ` ${baseUrl} , ` }
    expect((await strata(['--store', local, 'sql', 'mine', "INSERT INTO users (name) VALUES ('new')"], env)).code).toBe(0)
    const out = join(dir, 'mine.db')
    expect((await strata(['--store', local, 'export', 'mine', out, '--check'], env)).code).toBe(0)
    const db = new Database(out, { readonly: true })
    expect(db.prepare('SELECT count(*) AS n FROM users').get()).toEqual({ n: 2001 })
    db.close()

    const show = await strata(['--store', local, 'show', 'mine'], env)
    expect(show.stdout).toMatch(new RegExp(`other stores:\\n  [0-9a-f]{32} in ${baseUrl}: pinned`))
    const verify = await strata(['--store', local, 'verify'], env)
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(new RegExp(`stacks on ${baseUrl} \\(store [0-9a-f-]{36}, ok\\): 1 snapshot\\(s\\), pinned`))
    const pins = await json<{ pins: { dependentStore: { url: string } }[] }>(['--store', base, 'pins'])
    expect(pins.pins.map((p) => p.dependentStore.url)).toEqual([pathToFileURL(local).href])
    // Without the allowlist the branch cannot be read, and says why.
    const denied = await strata(['--store', local, 'export', 'mine', join(dir, 'x.db')])
    expect(denied.code).toBe(1)
    expect(denied.stderr).toContain(`store ${baseUrl}`)
  })

  it('--no-pin leaves the dependency unpinned, and show says so', async () => {
    const [pin] = (await json<{ pins: { dependentStore: { id: string } }[] }>(['--store', base, 'pins'])).pins
    const removed = await json<{ removed: unknown[] }>(['--store', base, 'pins', 'remove', pin!.dependentStore.id])
    expect(removed.removed).toHaveLength(1)
    const r = await strata(['--store', local, '--allow-store', base, 'branch', 'create', 'loose', '--from', `${base}#main`, '--no-pin'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/UNPINNED: not requested/)
    expect(r.stderr).toMatch(/warning: gc in .* may delete snapshot/)
    const show = await strata(['--store', local, '--allow-store', base, 'show', 'loose'])
    expect(show.stdout).toMatch(/: UNPINNED \(gc in that store may delete it/)
    // A branch created with pinning pins the shared base snapshot again.
    expect((await json(['--store', local, '--allow-store', base, 'branch', 'create', 'repin', '--from', `${base}#main`])).crossStore).toMatchObject({ pinned: true })
    expect((await strata(['--store', local, '--allow-store', base, 'show', 'loose'])).stdout).toMatch(/: pinned/)
  })

  it('doctor reports a local directory fit for Strata', async () => {
    const report = await json(['doctor', local])
    expect(report).toMatchObject({ ok: true, cas: { ok: true }, cleanedUp: true, repository: { storeId: expect.any(String) } })
    const human = await strata(['--store', local, 'doctor'])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/ok: the store is fit for Strata/)
  })

  it('repoint moves the base after checking it, and pins prune removes pins nothing needs', async () => {
    const moved = join(dir, 'moved')
    await cp(base, moved, { recursive: true })
    const movedUrl = pathToFileURL(moved).href
    const r = await json(['--store', local, '--allow-store', base, '--allow-store', moved, 'repoint', base, moved])
    expect(r).toMatchObject({ from: baseUrl, to: movedUrl, snapshots: [expect.any(String)] })
    const show = await strata(['--store', local, '--allow-store', moved, 'show', 'mine'])
    expect(show.stdout).toContain(`in ${movedUrl}: pinned`)

    for (const b of ['mine', 'loose', 'repin']) expect((await strata(['--store', local, 'branch', 'delete', b])).code).toBe(0)
    expect((await strata(['--store', local, 'gc', '--grace', '0', '--keep-within', '0'])).code).toBe(0)
    const pruned = await json(['--store', local, '--allow-store', moved, 'pins', 'prune', '--grace', '0'])
    expect(pruned).toMatchObject({ removed: [{ url: movedUrl }], kept: [], skipped: [] })
    expect((await json<{ pins: unknown[] }>(['--store', moved, 'pins', 'list'])).pins).toEqual([])
  })
})
