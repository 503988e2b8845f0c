import Database from 'better-sqlite3'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { decodeRef, encodeRef, refKey } from '@strata/core/engine'
import { openBranch } from '@strata/sqlite'
import { LatencyStore, SharedRequestLog, dependentRoundTrips, type TimedRequest } from '../bench/lib/latency-store.js'

// Dependent round trips of a cold lazy open + indexed point query, counted on a real local store
// with latency injected into every request (the main thread's and the fetcher thread's): each
// request's start and end are recorded, and the longest chain of requests each started after
// the previous one ended is the number of round trips the query waited for in sequence.

const LATENCY = new URL('../bench/lib/latency-thread-store.mjs', import.meta.url).href
/** Long enough that requests of one wave never look sequential on a busy machine. */
const DELAY_MS = 40

let dir: string
let storeDir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-round-trips-'))
  // The index is created first, so its root lies in the first pages (as in a database whose
  // schema was made before its data); 100-byte labels give it three levels with 6,000 rows.
  const src = join(dir, 'src.db')
  const db = new Database(src)
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL); CREATE INDEX items_label ON items(label);`)
  const ins = db.prepare('INSERT INTO items (id, label) VALUES (?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= 6000; i++) ins.run(i, `label ${String(i).padStart(6, '0')} ${'x'.repeat(86)}`)
  })()
  const depth = db.prepare("SELECT count(DISTINCT length(path) - length(replace(path, '/', ''))) AS n FROM dbstat WHERE name = 'items_label'").get() as { n: number }
  expect(depth.n).toBe(3)
  db.close()
  storeDir = join(dir, 'store')
  const repo = await Repository.init(new LocalStore(storeDir))
  await repo.importDatabase(src)
  // A branch stacked on main with a commit of its own: a chain of two manifests.
  await repo.createBranch('dev', { from: 'main' })
  const dev = await openBranch(repo, 'dev', { mode: 'file', cacheDir: join(dir, 'cache-setup') })
  dev.db.prepare('UPDATE items SET label = ? WHERE id = 5000').run(`label 005000 ${'y'.repeat(86)}`)
  expect((await dev.commit({ message: 'one row' })).changed).toBe(true)
  await dev.close()
  expect((await repo.resolve((await repo.getBranch('dev')).head)).levels).toHaveLength(2)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Open `branch` lazily from cold (a fresh repository and cache), run one point query, close; the round trips it took. */
async function coldPointQuery(branch: string, run: string): Promise<{ dependent: number; main: number; fetcher: number }> {
  const main: TimedRequest[] = []
  const log = new SharedRequestLog()
  const repo = await Repository.open(new LatencyStore(new LocalStore(storeDir), DELAY_MS, (start, end) => main.push({ start, end })))
  main.length = 0
  const live = await openBranch(repo, branch, {
    mode: 'lazy',
    cacheDir: join(dir, `cache-${run}`),
    lazy: { storeRecipe: () => ({ module: LATENCY, export: 'openLatencyStore', args: [storeDir, DELAY_MS, log.buffer], key: `round-trips-${run}` }) },
  })
  try {
    expect(live.mode).toBe('lazy')
    expect(live.db.prepare('SELECT id FROM items WHERE label = ?').get(`label ${'004321'} ${'x'.repeat(86)}`)).toEqual({ id: 4321 })
    expect(live.lazyStats()!.misses).toBe(2) // the index's middle level, then its leaf
  } finally {
    await live.close()
  }
  const fetcher = log.requests()
  return { dependent: dependentRoundTrips([...main, ...fetcher]), main: main.length, fetcher: fetcher.length }
}

/** Remove the read hint from the ref of `branch` (as refs written before hints existed). */
async function dropHint(branch: string): Promise<void> {
  const store = new LocalStore(storeDir)
  const got = (await store.get(refKey(branch)))!
  const { readHint, ...plain } = decodeRef(refKey(branch), got.body)
  expect(readHint).toBeDefined()
  await store.put(refKey(branch), encodeRef(plain), { ifMatch: got.version })
}

const CASES = [
  {
    branch: 'main',
    title: 'takes 4 dependent round trips with the ref hint (ref; manifest with the first pages; index level; leaf), 5 without it (the first pages after the manifest)',
    // Main-thread requests: the ref, the manifest and the one hinted run; without: ref and manifest.
    hinted: { dependent: 4, main: 3 },
    unhinted: { dependent: 5, main: 2 },
  },
  {
    branch: 'dev',
    title: 'on a stacked branch, also 4: the hint lists the chain, so both manifests come at once (6 without it)',
    // The ref, two manifests and the hinted run (pages 1-12 all lie in main's first segment run).
    hinted: { dependent: 4, main: 4 },
    unhinted: { dependent: 6, main: 3 },
  },
]

describe('a cold lazy point query', () => {
  for (const c of CASES) {
    it(c.title, async () => {
      const hinted = await coldPointQuery(c.branch, `${c.branch}-hinted`)
      expect({ dependent: hinted.dependent, main: hinted.main }).toEqual(c.hinted)
      await dropHint(c.branch)
      const unhinted = await coldPointQuery(c.branch, `${c.branch}-unhinted`)
      expect({ dependent: unhinted.dependent, main: unhinted.main }).toEqual(c.unhinted)
    })
  }
})
