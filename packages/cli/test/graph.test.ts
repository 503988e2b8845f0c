import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { LocalStore, Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../src/index.js'
import type { BranchGraph } from '../src/branch-graph.js'
import { captureIo } from './capture.js'

// `strata graph` in-process on local directories: 130 branches (the collapse), a chain three
// deep, a hold, TTLs, a deleted parent and a base in another store.

let dir: string
let store: string
let baseUrl: string

async function strata(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo({ STRATA_ALLOW_STORES: baseUrl })
  const code = await run(['--store', store, ...args], io)
  return { code, stdout: io.stdout.text, stderr: io.stderr.text }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-graph-'))
  store = join(dir, 'store')
  const base = join(dir, 'base')
  baseUrl = pathToFileURL(base).href
  const db = new Database(join(dir, 'app.db'))
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT i, printf('row %d', i) FROM n")
  db.close()
  const baseRepo = await Repository.init(await LocalStore.open(base))
  await baseRepo.importDatabase(join(dir, 'app.db'), { branch: 'main' })
  await baseRepo.close()

  const repo = await Repository.init(await LocalStore.open(store), { allowStores: [baseUrl] })
  await repo.importDatabase(join(dir, 'app.db'), { branch: 'main' })
  const page = (fill: number): Uint8Array => new Uint8Array(4096).fill(fill)
  await repo.createBranch('feature')
  await repo.commit('feature', { writes: new Map([[3, page(1)]]) })
  await repo.createBranch('feature/deeper', { from: 'feature' })
  await repo.commit('feature/deeper', { writes: new Map([[4, page(2)], [5, page(3)]]) })
  await repo.createBranch('doomed')
  await repo.commit('doomed', { writes: new Map([[2, page(4)]]) })
  await repo.createBranch('orphan', { from: 'doomed' })
  await repo.deleteBranch('doomed')
  await repo.createBranch('mine', { from: `${baseUrl}#main` })
  for (let i = 1; i <= 125; i++) await repo.createBranch(`ci-${i}`, { ttlMs: 2 * 3600_000 })
  await repo.hold('feature')
  await repo.close()
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('strata graph', () => {
  it('--json: every branch with what it stacks on, its chain, own bytes, TTL and hold', async () => {
    const r = await strata('graph', '--json')
    expect(r.code, r.stderr).toBe(0)
    const g = JSON.parse(r.stdout) as BranchGraph & { roots: { id: string; children: unknown[] }[] }
    expect(g.branches).toHaveLength(130)
    const b = (name: string) => g.branches.find((x) => x.name === name)!
    expect(b('main').parent).toBeNull()
    expect(b('feature')).toMatchObject({ parent: { kind: 'branch', branch: 'main', atHead: true }, held: true, ownPages: 1, ownBytes: 4096, expiresAt: null })
    expect(b('feature/deeper')).toMatchObject({ parent: { kind: 'branch', branch: 'feature', atHead: true }, ownPages: 2, chainDepth: 3 })
    expect(b('feature/deeper').chain.map((l) => l.branch)).toEqual(['feature/deeper', 'feature', 'main'])
    expect(b('orphan').parent).toMatchObject({ kind: 'deleted', branchName: 'doomed' })
    expect(b('orphan').ownBytes).toBe(0)
    expect(b('mine').parent).toMatchObject({ kind: 'store', store: { url: baseUrl }, pinned: true })
    expect(b('mine').chain.at(-1)).toMatchObject({ store: baseUrl })
    expect(b('ci-7')).toMatchObject({ parent: { kind: 'branch', branch: 'main' }, ownBytes: 0, held: false })
    expect(Date.parse(b('ci-7').expiresAt!) - Date.now()).toBeGreaterThan(3600_000)
    expect(g.roots.map((n) => n.id)).toEqual(['b:main', expect.stringMatching(/^d:/), `s:${baseUrl}`])
  })

  it('text: a tree that collapses 125 sibling CI branches into one line', async () => {
    const r = await strata('graph')
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines.length).toBeLessThan(15)
    expect(r.stdout).toMatch(/^├─ ci-\* \(125 branches\) +0 B +1 .*125 with TTL/m)
    expect(r.stdout).toMatch(/^└─ feature +4\.00 KiB +2 .* held +main@[0-9a-f]{12}$/m)
    expect(r.stdout).toMatch(/^ {3}└─ feature\/deeper +8\.00 KiB +3 .*feature@[0-9a-f]{12}$/m)
    expect(r.stdout).toMatch(/^doomed@[0-9a-f]{12} \(deleted branch\)$/m)
    expect(r.stdout).toMatch(/^└─ orphan +0 B/m)
    expect(r.stdout).toContain(`${baseUrl} (other store)`)
    expect(r.stdout).toMatch(new RegExp(`└─ mine .*${baseUrl}#[0-9a-f]{12} pinned$`, 'm'))
    const all = await strata('graph', '--all')
    const listed = all.stdout.trimEnd().split('\n')
    expect(listed).toHaveLength(lines.length + 124)
    // Numbers in names sort as numbers.
    expect(listed.filter((l) => l.startsWith('├─ ci-')).slice(0, 3).map((l) => l.split(/ +/)[1])).toEqual(['ci-1', 'ci-2', 'ci-3'])
  })

  it('--branch focuses on a branch, what it stacks on and what stacks on it, and spells out its chain', async () => {
    const r = await strata('graph', '--branch', 'feature')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).not.toContain('ci-')
    expect(r.stdout).toMatch(/^main /m)
    expect(r.stdout).toMatch(/^└─ feature /m)
    expect(r.stdout).toMatch(/^ {3}└─ feature\/deeper /m)
    expect(r.stdout).toMatch(/^chain of feature: feature@[0-9a-f]{12} → main@[0-9a-f]{12}$/m)
    const one = await strata('graph', '--branch', 'ci-42')
    expect(one.stdout).toMatch(/^└─ ci-42 +0 B/m)
    const missing = await strata('graph', '--branch', 'nope', '--json')
    expect(missing.code).toBe(1)
    expect(JSON.parse(missing.stderr).error.code).toBe('STRATA_BRANCH_NOT_FOUND')
  })

  it('dot: one node per branch or group, an edge per stacking, dashed into other stores', async () => {
    const r = await strata('graph', '--format', 'dot')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.startsWith('digraph strata {\n')).toBe(true)
    expect(r.stdout.trimEnd().endsWith('}')).toBe(true)
    expect(r.stdout).toContain('"b:main" -> "b:feature" [label=')
    expect(r.stdout).toContain('"b:feature" -> "b:feature/deeper"')
    expect(r.stdout).toContain('"b:main" -> "g:b:main/ci-";')
    expect(r.stdout).toMatch(new RegExp(`"s:${baseUrl}" -> "b:mine" \\[label="[0-9a-f]{12}", style=dashed\\];`))
    expect((r.stdout.match(/ -> /g) ?? []).length).toBe(5)
    expect((await strata('graph', '--format', 'svg')).code).toBe(2)
  })
})
