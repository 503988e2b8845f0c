import { cp, readFile, writeFile } from 'node:fs/promises'
import fc from 'fast-check'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/errors/index.js'
import { segmentKey } from '../../../src/format/keys.js'
import { decodeManifest, encodeManifest } from '../../../src/format/manifest.js'
import { RUN_CHECKSUM_BYTES, computeRunChecksums } from '../../../src/format/run-checksums.js'
import type { PageNo } from '../../../src/format/page.js'
import { fetchPageRuns } from '../../../src/repo/read/page-fetcher.js'
import { Repository } from '../../../src/repo/repository.js'
import { LocalStore } from '../../../src/store/local-store.js'
import { scratch, syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const SIZE = 4096
const PAGES = 300
const FIXTURE = join(import.meta.dirname, '../../fixtures/format-1.0-store')

/** Every page of `spec` read through the fetcher: how many pages came, and how many were verified by their run. */
async function readAll(repo: Repository, spec: string): Promise<{ pages: number; byRun: number }> {
  const t = await repo.resolve((await repo.getBranch(spec)).head, spec)
  const out = { pages: 0, byRun: 0 }
  await fetchPageRuns(t, (run) => void ((out.pages += run.pages.length), (out.byRun += run.pagesByRun)), { concurrency: 4, maxRunBytes: 1024 * 1024 })
  return out
}

describe('run checksums', () => {
  it('are recorded for every new segment, and let a full read verify every page by its run', async () => {
    const t = await tempRepo()
    try {
      const db = syntheticDb(SIZE, PAGES)
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', db))
      const m = await t.repo.snapshot((await t.repo.getBranch('main')).head)
      expect(m.segments).toHaveLength(1)
      expect(m.segments[0]!.runs).toEqual(computeRunChecksums(db.subarray(0, m.segments[0]!.length), RUN_CHECKSUM_BYTES))
      expect(await readAll(t.repo, 'main')).toEqual({ pages: PAGES, byRun: PAGES })
    } finally {
      await t.cleanup()
    }
  })

  it('travel with a by-reference materialize, and a damaged byte is still named by page, snapshot and key', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, PAGES)))
      await t.repo.createBranch('b')
      await t.repo.commit('b', { writes: [10, 100, 200].map((p) => [p, testPage(SIZE, 0x5a, p)] as [number, Uint8Array]) })
      const flat = await t.repo.materialize('b')
      expect(flat.mode).toBe('reference')
      const base = await t.repo.snapshot((await t.repo.getBranch('main')).head)
      const m = await t.repo.snapshot(flat.snapshot)
      const shared = m.segments.find((s) => s.id === base.segments[0]!.id)!
      // The materialized snapshot points into the base's segment (minus the pages b replaced) and carries its checksums.
      expect(shared.runs).toEqual(base.segments[0]!.runs)
      const read = await readAll(t.repo, 'b')
      expect(read.pages).toBe(PAGES)
      // Whole runs of the base segment still verify at once; the runs around the replaced pages are read in parts.
      expect(read.byRun).toBeGreaterThan(0)

      const key = segmentKey(base.segments[0]!.id)
      const body = new Uint8Array((await t.store.get(key))!.body)
      body[149 * SIZE + 77]! ^= 0x01
      await t.store.put(key, body)
      for (const [branch, snapshot] of [['b', flat.snapshot], ['main', base]] as const) {
        const e = await t.repo.export(branch, join(t.dir, `${branch}.sqlite`)).catch((x: unknown) => x)
        expect(isStrataError(e, 'STRATA_CORRUPT_PAGE'), String(e)).toBe(true)
        const id = typeof snapshot === 'string' ? snapshot : (await t.repo.getBranch('main')).head
        expect((e as { data: unknown }).data).toMatchObject({ key, pageNo: 150, snapshot: id })
      }
    } finally {
      await t.cleanup()
    }
  })

  it('are absent from manifests written before them (the format 1.0 fixture, upgraded), which verify page by page', async () => {
    const s = await scratch()
    try {
      await cp(FIXTURE, join(s.dir, 'store'), { recursive: true })
      const store = new LocalStore(join(s.dir, 'store'))
      await Repository.upgrade(store)
      const repo = await Repository.open(store)
      for (const b of await repo.listBranches()) {
        const m = await repo.snapshot(b.head)
        expect(m.segments.every((seg) => seg.runs === undefined)).toBe(true)
        const read = await readAll(repo, b.name)
        expect(read).toEqual({ pages: m.pageCount, byRun: 0 })
      }
      // A commit on top carries the old segments as they are and gives its own new segment checksums.
      const { pageSize } = await repo.snapshot((await repo.getBranch('main')).head)
      const head = await repo.commit('main', { writes: [[2, testPage(pageSize, 0x33, 2)]] })
      const m = await repo.snapshot(head.snapshot)
      expect(m.segments.filter((seg) => seg.runs !== undefined)).toHaveLength(1)
      expect((await repo.verify({ deep: true })).ok).toBe(true)
    } finally {
      await s.cleanup()
    }
  })

  it('leave the bytes (and id) of a manifest without them unchanged, and a checksum list of the wrong length is a corrupt manifest', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, 20)))
      const id = (await t.repo.getBranch('main')).head
      const m = await t.repo.snapshot(id)
      expect(encodeManifest(m).id).toBe(id)
      const bare = encodeManifest({ ...m, segments: m.segments.map(({ id: sid, length }) => ({ id: sid, length })) })
      expect(Buffer.from(bare.bytes).includes(Buffer.from('segmentRuns'))).toBe(false)
      expect(decodeManifest(bare.id, bare.bytes).segments[0]!.runs).toBeUndefined()
      const short = encodeManifest({ ...m, segments: m.segments.map((seg) => ({ ...seg, runs: { runBytes: seg.runs!.runBytes, hashes: seg.runs!.hashes.subarray(16) } })) })
      expect(() => decodeManifest(short.id, short.bytes)).toThrow(expect.objectContaining({ code: 'STRATA_CORRUPT_OBJECT' }))
    } finally {
      await t.cleanup()
    }
  })

  it('property: any page subset, read size and concurrency delivers exactly the wanted pages, and a damaged byte fails the read iff its page is wanted, naming that page', async () => {
    const t = await tempRepo()
    try {
      const size = 1024
      // Three runs of 256 pages (the last one short) in one segment, plus pages of a branch on top.
      const count = 700
      const db = syntheticDb(size, count, (p) => (p * 7) % 251)
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', db))
      const m = await t.repo.snapshot((await t.repo.getBranch('main')).head)
      expect(m.segments[0]!.runs!.hashes.byteLength).toBe(3 * 16)
      const path = join(t.dir, 'store', ...segmentKey(m.segments[0]!.id).split('/'))
      const pristine = await readFile(path)
      const table = await t.repo.resolve((await t.repo.getBranch('main')).head, 'main')
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.integer({ min: 1, max: count }), { minLength: 1, maxLength: count }),
          fc.integer({ min: 1, max: 1024 }),
          fc.integer({ min: 1, max: 4 }),
          fc.option(fc.record({ page: fc.integer({ min: 1, max: count }), at: fc.integer({ min: 0, max: size - 1 }) })),
          async (wanted, kib, concurrency, damage) => {
            if (damage) {
              const bytes = Buffer.from(pristine)
              bytes[(damage.page - 1) * size + damage.at]! ^= 0x80
              await writeFile(path, bytes)
            }
            try {
              const got = new Map<number, Buffer>()
              const err = await fetchPageRuns(
                table,
                ({ pages, body }) => pages.forEach((p, i) => got.set(p, Buffer.from(body.subarray(i * size, (i + 1) * size)))),
                { concurrency, maxRunBytes: kib * 1024 },
                wanted as PageNo[],
              ).then(() => null, (e: unknown) => e)
              if (damage && wanted.includes(damage.page)) {
                expect(isStrataError(err, 'STRATA_CORRUPT_PAGE'), String(err)).toBe(true)
                expect((err as { data: { pageNo: number } }).data.pageNo).toBe(damage.page)
              } else {
                expect(err).toBeNull()
                expect([...got.keys()].sort((a, b) => a - b)).toEqual([...wanted].sort((a, b) => a - b))
                for (const [p, page] of got) expect(page.equals(Buffer.from(db.subarray((p - 1) * size, p * size)))).toBe(true)
              }
            } finally {
              if (damage) await writeFile(path, pristine)
            }
          },
        ),
        { numRuns: 60 },
      )
    } finally {
      await t.cleanup()
    }
  })
})
