import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, type ListOptions, type ObjectInfo } from '../../src/index.js'
import { listInRanges } from '../../src/store/list-ranges.js'
import { CountingStore } from '../../src/testing/index.js'
import { scratch } from '../helpers.js'

/** The local store, declaring pages of `listPageSize` keys so that listings are split into ranges. */
class PagedLocalStore extends LocalStore {
  listPageSize = 4
}

// A ranged listing must return exactly what a sequential one does, whatever the known keys (the
// index) say: keys written since (anywhere, including before the first split and after the last),
// keys deleted since (split points that no longer exist), and keys the index never held.
describe('listInRanges', () => {
  let store: PagedLocalStore
  let cleanup: () => Promise<void>
  const stored = ['0', '00', '1', 'a', 'a-b', 'a.b', 'aa', 'ab', 'b', 'ba', 'bb', 'c', 'c0', 'c1', 'd', 'e', 'ea', 'f', 'g', 'h', 'i', 'j', 'k', 'm', 'n', 'z', 'zz']
  const keys = stored.map((k) => `p/${k}`)

  beforeAll(async () => {
    const s = await scratch()
    cleanup = s.cleanup
    store = new PagedLocalStore(s.dir)
    for (const k of keys) await store.put(k, new TextEncoder().encode(k))
    await store.put('o/outside', new Uint8Array(1))
    await store.put('q/outside', new Uint8Array(1))
  })
  afterAll(() => cleanup())

  async function sequential(): Promise<string[]> {
    const out: string[] = []
    for await (const o of store.list('p/')) out.push(o.key)
    return out
  }

  it('covers the prefix exactly, in order, for any known keys and page size', async () => {
    expect(await sequential()).toEqual([...keys].sort())
    const candidate = fc.oneof(fc.constantFrom(...keys), fc.stringMatching(/^p\/[0-9a-z.-]{1,3}$/), fc.constantFrom('o/x', 'q/x', 'p', 'p0'))
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(candidate, { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (known, pageSize) => {
        store.listPageSize = pageSize
        const got = (await listInRanges(store, 'p/', Promise.resolve(known))).map((o) => o.key)
        expect(got).toEqual([...keys].sort())
      }),
      { numRuns: 200 },
    )
  })

  it('finds keys written after the known keys were taken in every range, one listing per range', async () => {
    store.listPageSize = 4
    const counting = new CountingStore(store)
    // Every third stored key is known, so every range holds keys the index lacks, before and after
    // its known ones: 9 known keys, 3 per range (95% of a 4-key page), 3 ranges.
    const known = keys.filter((_, i) => i % 3 === 2)
    const got = await listInRanges(counting, 'p/', Promise.resolve(known))
    expect(got.map((o: ObjectInfo) => o.key)).toEqual([...keys].sort())
    expect(counting.counts.list.calls).toBe(3)
  })

  it('lists sequentially, in one call, without known keys or on a store without pages', async () => {
    const counting = new CountingStore(store)
    store.listPageSize = 4
    expect((await listInRanges(counting, 'p/', Promise.resolve([]))).length).toBe(keys.length)
    expect(counting.counts.list.calls).toBe(1)
    const plain = new CountingStore(new LocalStore(store.root))
    expect((await listInRanges(plain, 'p/', Promise.resolve(keys))).length).toBe(keys.length)
    expect(plain.counts.list.calls).toBe(1)
  })

  it('passes the start key to the store and stops each range at its end', async () => {
    store.listPageSize = 10
    const calls: ListOptions[] = []
    const spy = new (class extends CountingStore {
      override list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
        calls.push({ ...(opts?.startAfter === undefined ? {} : { startAfter: opts.startAfter }) })
        return super.list(prefix, opts)
      }
    })(store)
    const got = await listInRanges(spy, 'p/', Promise.resolve(keys))
    expect(got.map((o) => o.key)).toEqual([...keys].sort())
    // 27 known keys, 9 per range: 3 ranges, split after the 9th and the 18th key.
    const sorted = [...keys].sort()
    expect(calls).toEqual([{}, { startAfter: sorted[8] }, { startAfter: sorted[17] }])
    // Each range stopped at its end: no object was read past the next range's start but the one that ended it.
    expect(spy.counts.list.objects).toBeLessThanOrEqual(keys.length + 2)
  })
})
