import { randomFillSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/errors/index.js'
import { DatabaseChecksum, PAGE_HASH_BYTES, hashPage } from '../../../src/format/hash.js'
import { segmentKey } from '../../../src/format/keys.js'
import type { PageNo } from '../../../src/format/page.js'
import { POOL_MIN_BYTES, hashPages } from '../../../src/repo/read/hash-pool.js'
import { syntheticDb, tempRepo, writeDb } from '../../helpers.js'

/** What `hashPage` and `DatabaseChecksum` say about `body`'s pages, page by page. */
function expected(body: Uint8Array, size: number, pages: PageNo[]): { hashes: Uint8Array; checksumTerms: Uint8Array } {
  const hashes = new Uint8Array(pages.length * PAGE_HASH_BYTES)
  const sum = new DatabaseChecksum()
  pages.forEach((p, i) => {
    const h = hashPage(body.subarray(i * size, (i + 1) * size))
    hashes.set(h, i * PAGE_HASH_BYTES)
    sum.toggle(p, h)
  })
  return { hashes, checksumTerms: sum.bytes }
}

describe('hashPages', () => {
  it('gives the same hashes and checksum terms on a worker thread as in place', async () => {
    const size = 4096
    const pages = Array.from({ length: 40 }, (_, i) => (1000 + 3 * i) as PageNo)
    const large = randomFillSync(new Uint8Array(pages.length * size))
    expect(large.byteLength).toBeGreaterThanOrEqual(POOL_MIN_BYTES)
    expect(await hashPages(large, size, pages)).toEqual(expected(large, size, pages))
    const small = large.subarray(0, 4 * size)
    expect(await hashPages(small, size, pages.slice(0, 4))).toEqual(expected(small, size, pages.slice(0, 4)))
    // A view into a larger buffer: hashed as the view, and the caller's bytes stay usable.
    const outer = new Uint8Array(large.byteLength + 3 * size)
    outer.set(large, size)
    const view = outer.subarray(size, size + large.byteLength)
    const concurrent = await Promise.all([hashPages(view, size, pages), hashPages(large, size, pages)])
    expect(concurrent[0]).toEqual(expected(large, size, pages))
    expect(concurrent[1]).toEqual(concurrent[0])
    expect(view.byteLength).toBe(large.byteLength)
    expect(Buffer.from(view).equals(Buffer.from(large))).toBe(true)
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
