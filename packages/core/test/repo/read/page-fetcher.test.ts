import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CountingStore } from '@strata/core/testing'
import type { PageNo } from '../../../src/format/page.js'
import { fetchPageRuns, fetchPages } from '../../../src/repo/read/page-fetcher.js'
import { Repository } from '../../../src/repo/repository.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const SIZE = 1024
const PAGES = 400

describe('fetchPages', () => {
  it('reads a base broken up by a branch with few requests, delivering exactly the wanted pages', async () => {
    const t = await tempRepo()
    try {
      const base = syntheticDb(SIZE, PAGES)
      await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', base))
      await t.repo.createBranch('b')
      // Every 7th page replaced: the base's one segment is wanted in short runs with 1-page gaps.
      const expected = base.slice()
      const writes: [number, Uint8Array][] = []
      for (let p = 7; p <= PAGES; p += 7) {
        const page = testPage(SIZE, 0xa0 + (p % 50), p)
        writes.push([p, page])
        expected.set(page, (p - 1) * SIZE)
      }
      await t.repo.commit('b', { writes })
      const counting = new CountingStore(t.store)
      const repo = await Repository.open(counting)
      await repo.export('b', join(t.dir, 'b.sqlite'))
      expect(Buffer.from(await readFile(join(t.dir, 'b.sqlite'))).equals(Buffer.from(expected))).toBe(true)
      const segmentReads = counting.log.filter((c) => c.operation === 'get' && c.key.startsWith('segments/'))
      // One read of the base (gaps bridged) and one of the branch's segment, not 58 runs.
      expect(segmentReads).toHaveLength(2)
      expect(segmentReads.reduce((s, c) => s + c.bytes, 0)).toBeLessThanOrEqual((PAGES + writes.length) * SIZE)

      // Every wanted page once, in slot order per read, none of the bridged ones.
      const table = await repo.resolve((await repo.getBranch('b')).head, 'b')
      const seen: number[] = []
      await fetchPageRuns(table, ({ pages, body, hashes }) => {
        expect(body.byteLength).toBe(pages.length * SIZE)
        expect(hashes.byteLength).toBe(pages.length * 16)
        pages.forEach((p, i) => {
          seen.push(p)
          expect(Buffer.from(body.subarray(i * SIZE, (i + 1) * SIZE)).equals(Buffer.from(expected.subarray((p - 1) * SIZE, p * SIZE)))).toBe(true)
        })
      }, { concurrency: 4, maxRunBytes: 1024 * 1024 })
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: PAGES }, (_, i) => i + 1))
    } finally {
      await t.cleanup()
    }
  })

  it('with lent buffers, reads land in at most `concurrency` recycled shared buffers, every page verified', async () => {
    const t = await tempRepo()
    try {
      const base = syntheticDb(SIZE, PAGES)
      await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', base))
      const table = await t.repo.resolve((await t.repo.getBranch('main')).head)
      const buffers = new Set<ArrayBufferLike>()
      let reads = 0
      const seen: number[] = []
      await fetchPageRuns(table, async ({ pages, body }) => {
        reads++
        expect(body.buffer).toBeInstanceOf(SharedArrayBuffer)
        buffers.add(body.buffer)
        await new Promise((r) => setTimeout(r, 1))
        // Still the bytes of this read: no other read wrote into the buffer meanwhile.
        pages.forEach((p, i) => {
          seen.push(p)
          expect(Buffer.from(body.subarray(i * SIZE, (i + 1) * SIZE)).equals(Buffer.from(base.subarray((p - 1) * SIZE, p * SIZE)))).toBe(true)
        })
      }, { concurrency: 2, maxRunBytes: 64 * 1024, lendBuffers: true })
      expect(reads).toBeGreaterThan(4)
      expect(buffers.size).toBeLessThanOrEqual(2)
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: PAGES }, (_, i) => i + 1))
    } finally {
      await t.cleanup()
    }
  })

  it('reads at most twice the bytes of a sparse page list, and no bridge wider than 32 slots', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', syntheticDb(SIZE, PAGES)))
      const counting = new CountingStore(t.store)
      const repo = await Repository.open(counting)
      const table = await repo.resolve((await repo.getBranch('main')).head)
      for (const every of [2, 3, 20, 40]) {
        counting.reset()
        const wanted = Array.from({ length: Math.floor(PAGES / every) }, (_, i) => (1 + i * every) as PageNo)
        const got: number[] = []
        await fetchPages(table, (p) => void got.push(p), { concurrency: 4, maxRunBytes: 1024 * 1024 }, wanted)
        expect(got.sort((a, b) => a - b)).toEqual(wanted)
        const read = counting.log.filter((c) => c.key.startsWith('segments/')).reduce((s, c) => s + c.bytes, 0)
        expect(read, `every ${every}th page`).toBeLessThanOrEqual(2 * wanted.length * SIZE)
        if (every > 33) expect(read).toBe(wanted.length * SIZE)
      }
    } finally {
      await t.cleanup()
    }
  })
})
