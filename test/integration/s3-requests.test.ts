import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core'
import { tempDir, type TempDir } from '@strata/core/testing'
import type { S3Store } from '@strata/s3'
import { S3TestProxy, localS3TestTarget, localTarget, newS3TestLocation, s3TestEnv, type S3TestLocation } from '@strata/s3/testing'
import { REF_INDEX_KEY } from '@strata/core/engine'
import { assertBuilt, strata } from '../cli/helpers.js'
import { syntheticDb, writeDb } from '../reliability/support/databases.js'
import { stampedPage } from '../reliability/support/pages.js'

// Exact request counts per operation on S3, seen by a pass-through proxy in front of the test
// server: none of them may grow with the number of branches the store holds.
const PAGE_SIZE = 4096
const LIST_PAGE = 10

describe('requests per operation on S3 (counted by the test proxy)', () => {
  let proxy: S3TestProxy
  let loc: S3TestLocation
  let store: S3Store
  let dir: TempDir
  let repo: Repository

  /** Ref keys in the store, counting the tombstones deleted branches leave until gc clears them. */
  async function refKeys(): Promise<number> {
    let n = 0
    for await (const _ of store.list('refs/')) n++
    return n
  }

  /** The requests `run` makes, by kind. */
  async function requestsOf(run: () => Promise<unknown>): Promise<{ GET: number; LIST: number; PUT: number; DELETE: number; HEAD: number; POST: number; total: number }> {
    proxy.clearLog()
    await run()
    const n = { GET: 0, LIST: 0, PUT: 0, DELETE: 0, HEAD: 0, POST: 0, total: 0 }
    for (const r of proxy.requests) {
      // A LIST is a GET with `list-type` in its query; deleting is a POST of DeleteObjects.
      const kind = r.method === 'GET' && r.url.includes('list-type=') ? 'LIST' : r.method === 'POST' && r.url.includes('delete') ? 'DELETE' : (r.method as keyof typeof n)
      n[kind]++
      n.total++
    }
    return n
  }

  beforeAll(async () => {
    proxy = await S3TestProxy.start({ upstream: localS3TestTarget().endpoint, conditionalWrites: false })
    loc = await newS3TestLocation('requests', localTarget(proxy.endpoint))
    store = loc.open('store', { listPageSize: LIST_PAGE })
    dir = await tempDir()
    repo = await Repository.init(store, { segmentBytes: 64 * PAGE_SIZE })
    await repo.importDatabase(await writeDb(dir.path, 'db.sqlite', syntheticDb(PAGE_SIZE, 16)), {})
  })
  afterAll(async () => {
    await store.close()
    await loc.cleanup()
    await proxy.close()
    await dir.cleanup()
  })

  it('branch create: 3 requests, delete 3, the same with 10 branches present as with 40; a one-page commit: at most 5', async () => {
    const perCount: Record<number, { create: number; del: number }> = {}
    let made = 0
    for (const present of [10, 40]) {
      while (made < present) await repo.createBranch(`b${made++}`)
      // A fresh name: over a deleted branch's tombstone a create costs two requests more (the
      // refused create-only put, the read of the tombstone, then its replacement).
      const probe = `probe${present}`
      const create = await requestsOf(() => repo.createBranch(probe))
      // The source's ref; the new ref (create-only; it carries the branch's origin); then the
      // listing of sweeps that shows no gc ran since the source's ref was read (see gc.ts).
      expect(create).toMatchObject({ GET: 1, LIST: 1, PUT: 1, DELETE: 0, total: 3 })
      const commit = await requestsOf(() => repo.commit(probe, { writes: [[2, stampedPage(PAGE_SIZE, 2, 1, present)]] }))
      expect(commit.total).toBeLessThanOrEqual(5)
      const del = await requestsOf(() => repo.deleteBranch(probe))
      // The ref, the hold check and the tombstone (compare-and-swap), which stays.
      expect(del).toMatchObject({ GET: 1, HEAD: 1, PUT: 1, DELETE: 0, total: 3 })
      perCount[present] = { create: create.total, del: del.total }
    }
    expect(perCount[40]).toEqual(perCount[10])
  })

  it('a case twin of an existing branch is refused with one create-only put and one read', async () => {
    await repo.createBranch('Twin')
    const n = await requestsOf(() => expect(repo.createBranch('tWIN')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS', data: { existing: 'Twin' } }))
    // The source's ref, the refused ref and the read naming the owner — no handshake (nothing
    // was published) and no listing of refs, however many branches there are.
    expect(n).toMatchObject({ PUT: 1, DELETE: 0, LIST: 0 })
    expect(n.GET).toBeLessThanOrEqual(3)
    await repo.deleteBranch('Twin')
  })

  it('branch list: with the ref index, one LIST per range of refs it names, at once, then one GET per ref it lacks; without it, one LIST per page and one GET per ref', async () => {
    while ((await repo.listBranches()).length < 45) await repo.createBranch(`l${(await repo.listBranches()).length}`)
    await store.delete([REF_INDEX_KEY])
    await repo.listBranches() // more than 32 refs missed the index: it is written
    const refs = await refKeys()
    // The index names the refs, so the listing is split into ranges of 95% of a page (9 refs of a
    // 10-key page), listed at once: one LIST each, one more than the pages of a sequential listing
    // when the refs fill the pages exactly, and room for a page's 5% of refs created since.
    const ranges = Math.ceil(refs / 9)
    const warm = await requestsOf(() => repo.listBranches())
    expect(warm).toEqual(expect.objectContaining({ LIST: ranges, GET: 1, PUT: 0 }))
    expect(ranges).toBeLessThanOrEqual(Math.ceil(refs / LIST_PAGE) + 1)
    // Refs changed since the index was written are read on their own; a few do not rewrite it.
    await repo.createBranch('fresh')
    await repo.commit('b1', { writes: [[3, stampedPage(PAGE_SIZE, 3, 1, 1)]] })
    const after = await requestsOf(() => repo.listBranches())
    expect(after).toEqual(expect.objectContaining({ LIST: ranges, GET: 1 + 2, PUT: 0 }))
    // Without an index: the sequential listing, one GET per ref (and the index is written once).
    await store.delete([REF_INDEX_KEY])
    const cold = await requestsOf(() => repo.listBranches())
    expect(cold).toEqual(expect.objectContaining({ LIST: Math.ceil((refs + 1) / LIST_PAGE), GET: 1 + refs + 1, PUT: 1 }))
  })

  it('branch list finds the refs created since the index was written in every range of it', async () => {
    const before = (await repo.listBranches()).map((b) => b.name)
    const ranges = Math.ceil((await refKeys()) / 9)
    // A new ref right after each branch the index names: at the start and end of every range, and
    // after the last. Most ranges then hold more than a page: two LISTs instead of one, never more.
    const added = before.map((name) => `${name}-since`)
    for (const name of added) await repo.createBranch(name)
    let listed: string[] = []
    const n = await requestsOf(async () => (listed = (await repo.listBranches()).map((b) => b.name)))
    expect([...listed].sort()).toEqual([...before, ...added].sort())
    expect(n.LIST).toBeGreaterThan(ranges)
    expect(n.LIST).toBeLessThanOrEqual(2 * ranges)
    for (const name of added) await repo.deleteBranch(name)
    await repo.listBranches() // rewrites the index the deletes left stale, as the tests after this one expect
  })

  it('gc --dry-run: one pass over the listing (the roots are read from it, not listed again), the ref index and the intents', async () => {
    let result!: Awaited<ReturnType<Repository['gc']>>
    const n = await requestsOf(async () => (result = await repo.gc({ dryRun: true })))
    // The key space page by page and the intents; GETs: the ref index, the intents, the manifests.
    expect(n.LIST).toBe(Math.ceil(result.scanned.objects / LIST_PAGE) + 1)
    expect(n).toMatchObject({ PUT: 0, DELETE: 0 })
  })

  it('strata branch create (the CLI, a new process): 3 requests — the source ref (which proves the format, so the marker is not read), the new ref, the look for sweeps', async () => {
    assertBuilt()
    const run = await requestsOf(() => strata(['--store', loc.url('store'), 'branch', 'create', 'from-cli', '--json'], { env: s3TestEnv(localTarget(proxy.endpoint)) }))
    expect(run).toMatchObject({ GET: 1, PUT: 1, LIST: 1, DELETE: 0, total: 3 })
    expect((await repo.getBranch('from-cli')).head).toBe((await repo.getBranch('main')).head)
  })
})
