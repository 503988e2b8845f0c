import { execFile } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/errors/index.js'
import { PAGE_HASH_BYTES, hashPage } from '../../../src/format/hash.js'
import { segmentKey } from '../../../src/format/keys.js'
import type { PageNo } from '../../../src/format/page.js'
import { computeRunChecksums } from '../../../src/format/run-checksums.js'
import { POOL_MIN_BYTES, hashRead, runChecksumsOf, type PageHashesOfRun, type ReadHashJob } from '../../../src/repo/read/hash-pool.js'
import { syntheticDb, tempRepo, writeDb } from '../../helpers.js'

/** What `hashPage` says about `body`'s pages, page by page. */
function expected(body: Uint8Array, size: number, pages: PageNo[]): PageHashesOfRun {
  const hashes = new Uint8Array(pages.length * PAGE_HASH_BYTES)
  pages.forEach((_, i) => hashes.set(hashPage(body.subarray(i * size, (i + 1) * size)), i * PAGE_HASH_BYTES))
  return { hashes, pagesByRun: 0 }
}

/** A job hashing every page of `body` on its own (no run checksums). */
function perPage(body: Uint8Array, size: number, pages: PageNo[]): ReadHashJob {
  return { pageSize: size, pages, offsets: null, expected: expected(body, size, pages).hashes, runs: [], runHashes: new Uint8Array(0) }
}

/** `pages` at `pageSize` as one segment's bytes, and a job for reading them all with their run checksums. */
function withRuns(body: Uint8Array, size: number, pages: PageNo[], runBytes: number): ReadHashJob {
  const sums = computeRunChecksums(body, runBytes)
  const runs: number[] = []
  for (let s = 0; s < body.byteLength; s += runBytes) runs.push(s, Math.min(runBytes, body.byteLength - s))
  return { ...perPage(body, size, pages), runs, runHashes: sums.hashes }
}

describe('hashRead', () => {
  it('gives the same hashes on a worker thread as in place', async () => {
    const size = 4096
    const pages = Array.from({ length: 40 }, (_, i) => (1000 + 3 * i) as PageNo)
    const large = randomFillSync(new Uint8Array(pages.length * size))
    expect(large.byteLength).toBeGreaterThanOrEqual(POOL_MIN_BYTES)
    expect(await hashRead(large, perPage(large, size, pages))).toEqual(expected(large, size, pages))
    const small = large.subarray(0, 4 * size)
    expect(await hashRead(small, perPage(small, size, pages.slice(0, 4)))).toEqual(expected(small, size, pages.slice(0, 4)))
    // A view into a larger buffer: hashed as the view, and the caller's bytes stay usable.
    const outer = new Uint8Array(large.byteLength + 3 * size)
    outer.set(large, size)
    const view = outer.subarray(size, size + large.byteLength)
    const concurrent = await Promise.all([hashRead(view, perPage(large, size, pages)), hashRead(large, perPage(large, size, pages))])
    expect(concurrent[0]).toEqual(expected(large, size, pages))
    expect(concurrent[1]).toEqual(concurrent[0])
    expect(view.byteLength).toBe(large.byteLength)
    expect(Buffer.from(view).equals(Buffer.from(large))).toBe(true)
  })

  it('hashes bytes already in shared memory where they lie, at any offset, and still finds a damaged page', async () => {
    const size = 4096
    const pages = Array.from({ length: 40 }, (_, i) => (1 + i) as PageNo)
    const plain = randomFillSync(new Uint8Array(pages.length * size))
    const shared = new Uint8Array(new SharedArrayBuffer(plain.byteLength + 2 * size), size, plain.byteLength)
    shared.set(plain)
    expect(await hashRead(shared, perPage(plain, size, pages))).toEqual(expected(plain, size, pages))
    shared[7 * size + 5]! ^= 0x80
    const got = await hashRead(shared, withRuns(plain, size, pages, 16 * size))
    const wrong = pages.filter((_, i) => !Buffer.from(got.hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES)).equals(Buffer.from(expected(plain, size, pages).hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES))))
    expect(wrong).toEqual([8])
    // The two runs that do not hold page 8 vouched for their pages with one hash each.
    expect(got.pagesByRun).toBe(24)
  })

  for (const where of ['in place', 'on a worker thread'] as const) {
    it(`verifies whole runs with one hash each and names a damaged page by its own hash (${where})`, async () => {
      const size = 1024
      const n = where === 'in place' ? 40 : 160
      const pages = Array.from({ length: n }, (_, i) => (7 + i) as PageNo)
      const body = randomFillSync(new Uint8Array(n * size))
      expect(body.byteLength >= POOL_MIN_BYTES).toBe(where !== 'in place')
      const job = withRuns(body, size, pages, 16 * size)
      const good = await hashRead(body, job)
      expect(good).toEqual({ ...expected(body, size, pages), pagesByRun: n })
      // One flipped bit: its run fails, so that run's pages are hashed one by one and only the
      // damaged page's hash differs; every other run still counts whole.
      const damaged = body.slice()
      damaged[21 * size + 5]! ^= 0x10
      const bad = await hashRead(damaged, job)
      expect(bad.pagesByRun).toBe(n - 16)
      const differing = pages.filter((_, i) => Buffer.compare(bad.hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES), job.expected.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES)) !== 0)
      expect(differing).toEqual([pages[21]])
      expect(bad.hashes.subarray(21 * PAGE_HASH_BYTES, 22 * PAGE_HASH_BYTES)).toEqual(hashPage(damaged.subarray(21 * size, 22 * size)))
      // Wanted pages spread over the read (the others are spare slots inside it): a run vouches
      // only for the wanted pages inside it, and damage in a spare slot fails no wanted page.
      const offsets = [0, 3, 4, 30, 31, 33].map((i) => i * size)
      const wanted = offsets.map((o) => pages[o / size]!)
      const sparse: ReadHashJob = { ...job, pages: wanted, offsets, expected: expected(body, size, pages).hashes.filter((_, b) => offsets.includes(Math.floor(b / PAGE_HASH_BYTES) * size)) }
      const spareDamaged = body.slice()
      spareDamaged[10 * size]! ^= 0x01
      const r = await hashRead(spareDamaged, sparse)
      expect(r.hashes).toEqual(sparse.expected)
      expect(r.pagesByRun).toBe(3)
    })
  }

  it('starts a hashing thread ahead of a read that uses it, and the thread never keeps the process alive', async () => {
    // A thread kept alive would keep the child from exiting: the timeout fails the test.
    const child = fileURLToPath(new URL('./fixtures/prepare-hashing.ts', import.meta.url))
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', child], { timeout: 20_000 })
    expect(JSON.parse(stdout)).toEqual({ differing: [6] })
  }, 30_000)

  it('computes a segment\'s run checksums on a worker thread as in place', async () => {
    const segment = randomFillSync(new Uint8Array(5 * 64 * 1024 + 4096))
    expect(segment.byteLength).toBeGreaterThanOrEqual(POOL_MIN_BYTES)
    for (const runBytes of [64 * 1024, 256 * 1024]) expect(await runChecksumsOf(segment, runBytes)).toEqual(computeRunChecksums(segment, runBytes))
    const small = segment.subarray(0, 3 * 4096)
    expect(await runChecksumsOf(small, 8192)).toEqual(computeRunChecksums(small, 8192))
    expect((await runChecksumsOf(segment, 64 * 1024)).hashes.byteLength).toBe(6 * PAGE_HASH_BYTES)
  })

  it('lets an export of reads large enough for the pool find a damaged page', async () => {
    const t = await tempRepo()
    try {
      const size = 4096
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(size, 300)))
      const m = await t.repo.snapshot((await t.repo.getBranch('main')).head)
      const key = segmentKey(m.segments[0]!.id)
      const body = new Uint8Array((await t.store.get(key))!.body)
      body[149 * size + 77]! ^= 0x01
      await t.store.put(key, body)
      const e = await t.repo.export('main', `${t.dir}/out.sqlite`).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_CORRUPT_PAGE')).toBe(true)
      expect((e as { data: unknown }).data).toMatchObject({ key, pageNo: 150 })
    } finally {
      await t.cleanup()
    }
  })
})
