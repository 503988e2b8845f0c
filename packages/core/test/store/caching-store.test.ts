import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CountingStore, describeObjectStore, localStoreFixture, tempDir, type TempDir } from '@strata/core/testing'
import { CachingStore } from '../../src/store/caching-store.js'
import { Repository } from '../../src/repo/repository.js'
import { syntheticDb, testPage, writeDb } from '../helpers.js'

// Mutable keys pass straight through, so the shared contract must hold unchanged.
describeObjectStore('CachingStore over LocalStore', async () => {
  const f = await localStoreFixture()
  const cache = await tempDir('strata-cache-')
  return { ...f, store: new CachingStore(f.store, { dir: cache.path }), cleanup: async () => (await f.cleanup(), await cache.cleanup()) }
})

const dirs: TempDir[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.cleanup()
})

describe('CachingStore', () => {
  it('fetches an immutable object once, then serves any range of it locally', async () => {
    const f = await localStoreFixture()
    const cache = await tempDir('strata-cache-')
    dirs.push(cache, { path: '', cleanup: f.cleanup })
    const body = new Uint8Array(64 * 1024).map((_, i) => i % 251)
    await f.store.put('segments/aa', body)
    const counting = new CountingStore(f.store)
    const s = new CachingStore(counting, { dir: cache.path })
    expect((await s.get('segments/aa', { range: { offset: 100, length: 10 } }))!.body).toEqual(body.subarray(100, 110))
    expect((await s.get('segments/aa', { range: { offset: 60000, length: 9000 } }))!.body).toEqual(body.subarray(60000))
    expect((await s.get('segments/aa'))!.body).toEqual(body)
    expect(counting.counts.get.calls).toBe(1)
    expect(s.stats).toMatchObject({ hits: 2, misses: 1, bytesFetched: body.length })
    // A second cache object on the same directory (another process) shares the entries.
    const again = new CachingStore(counting, { dir: cache.path })
    await again.get('segments/aa', { range: { offset: 0, length: 1 } })
    expect(counting.counts.get.calls).toBe(1)
    // Missing objects are not cached; refs always go to the store.
    expect(await s.get('segments/missing')).toBeNull()
    await f.store.put('refs/main', new Uint8Array([1]))
    await s.get('refs/main')
    await s.get('refs/main')
    expect(counting.log.filter((c) => c.key === 'refs/main')).toHaveLength(2)
  })

  it('evicts least recently used entries beyond its size bound', async () => {
    const f = await localStoreFixture()
    const cache = await tempDir('strata-cache-')
    dirs.push(cache, { path: '', cleanup: f.cleanup })
    const s = new CachingStore(f.store, { dir: cache.path, maxBytes: 3 * 1024 })
    for (let i = 0; i < 6; i++) await s.put(`segments/s${i}`, new Uint8Array(1024).fill(i))
    expect(s.stats.evictions).toBeGreaterThan(0)
    const counting = new CountingStore(f.store)
    const fresh = new CachingStore(counting, { dir: cache.path, maxBytes: 3 * 1024 })
    // Newest first: the survivors of eviction are hits before new fills can evict them.
    for (let i = 5; i >= 0; i--) expect((await fresh.get(`segments/s${i}`))!.body[0]).toBe(i)
    expect(counting.counts.get.calls).toBeGreaterThan(0)
    expect(counting.counts.get.calls).toBeLessThan(6)
  })

  it('makes re-reading a shared ancestor free: switching siblings reads only their own pages', async () => {
    const f = await localStoreFixture()
    const cache = await tempDir('strata-cache-')
    const work = await tempDir('strata-work-')
    dirs.push(cache, work, { path: '', cleanup: f.cleanup })
    const PS = 4096
    const setup = await Repository.init(f.store, { segmentBytes: 256 * 1024 })
    await setup.importDatabase(await writeDb(work.path, 'db', syntheticDb(PS, 1024)))
    for (const name of ['x', 'y']) {
      await setup.createBranch(name)
      const writes: [number, Uint8Array][] = []
      for (let i = 0; i < 100; i++) writes.push([10 + i * 7, testPage(PS, name === 'x' ? 1 : 2, i)])
      await setup.commit(name, { writes })
    }
    const counting = new CountingStore(f.store)
    const repo = await Repository.open(new CachingStore(counting, { dir: cache.path }))
    await repo.export('x', join(work.path, 'x.db'))
    counting.reset()
    await repo.export('y', join(work.path, 'y.db'))
    const segmentBytes = counting.log.filter((c) => c.key.startsWith('segments/')).reduce((n, c) => n + c.bytes, 0)
    expect(segmentBytes).toBeLessThanOrEqual(100 * PS)
  })
})
