import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CountingStore } from '@strata/core/testing'
import { refKey, segmentKey } from '../../../src/format/keys.js'
import { decodeRef, encodeRef, type ReadHint, type Ref } from '../../../src/format/ref.js'
import { HINTED_PAGES } from '../../../src/repo/read/read-hint.js'
import { Repository } from '../../../src/repo/repository.js'
import type { ObjectStore } from '../../../src/store/object-store.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const SIZE = 1024

async function readStoredRef(store: ObjectStore, name: string): Promise<{ ref: Ref; version: string }> {
  const got = (await store.get(refKey(name)))!
  return { ref: decodeRef(refKey(name), got.body), version: got.version }
}

/** Rewrite the ref of `name` with `edit` applied, as a hand edit or another writer would. */
async function editRef(store: ObjectStore, name: string, edit: (ref: Ref) => Ref): Promise<void> {
  const { ref, version } = await readStoredRef(store, name)
  await store.put(refKey(name), encodeRef(edit(ref)), { ifMatch: version })
}

/** Pages 1…n of `spec` as the repository reads them (verified the ordinary way). */
async function firstPagesOf(repo: Repository, spec: string, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n * SIZE)
  for (let p = 1; p <= n; p++) out.set(await repo.readPage(spec, p), (p - 1) * SIZE)
  return out
}

describe('the read hint of a ref', () => {
  it('is written by import, copied by branch create and written by a commit that does not own page 1, locating pages 1…12 in the segments that hold them', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, 40)))
      const imported = (await readStoredRef(t.store, 'main')).ref
      expect(imported.readHint).toEqual({ snapshot: imported.head, fallbacks: [], runs: [{ segment: expect.any(String), offset: 0, length: HINTED_PAGES * SIZE, first: 1 }] })
      const baseSegment = imported.readHint!.runs[0]!.segment

      // A commit that changes page 5 only: the hint reads pages 1-4 and 6-12 from the base's
      // segment and page 5 from the commit's own.
      // A branch created from main starts at main's head: it copies main's hint.
      await t.repo.createBranch('dev', { from: 'main' })
      expect((await readStoredRef(t.store, 'dev')).ref.readHint).toEqual(imported.readHint)
      await t.repo.commit('dev', { writes: [[5, testPage(SIZE, 0xee, 5)]] })
      const dev = (await readStoredRef(t.store, 'dev')).ref
      const runs = dev.readHint!.runs
      expect(dev.readHint!.snapshot).toBe(dev.head)
      expect(dev.readHint!.fallbacks).toEqual([imported.head])
      expect(runs.map((r) => [r.first, r.length / SIZE])).toEqual([[1, 4], [5, 1], [6, 7]])
      expect(runs[0]!.segment).toBe(baseSegment)
      expect(runs[1]!.segment).not.toBe(baseSegment)
      expect(runs[2]).toEqual({ segment: baseSegment, offset: 5 * SIZE, length: 7 * SIZE, first: 6 })

      const counting = new CountingStore(t.store)
      const repo = await Repository.open(counting)
      counting.reset()
      const r = await repo.resolveBranch('dev', { firstPages: true })
      expect(r.head).toBe(dev.head)
      expect(r.firstPages!.pages).toEqual(Array.from({ length: HINTED_PAGES }, (_, i) => i + 1))
      expect(Buffer.from(r.firstPages!.body).equals(Buffer.from(await firstPagesOf(repo, 'dev', HINTED_PAGES)))).toBe(true)
      // Before those page reads: the ref, the two manifests of the chain, and one read per run
      // (the round trips they take are counted in test/integration/lazy-round-trips.test.ts).
      expect(r.firstPages!.requests).toBe(3)
      expect(counting.log.slice(0, 6).map((c) => c.key.split('/')[0]).sort()).toEqual(['refs', 'segments', 'segments', 'segments', 'snapshots', 'snapshots'])
    } finally {
      await t.cleanup()
    }
  })

  it('a stale hint (for another head) is not fetched; one pointing at the wrong bytes, a deleted segment or a short range yields no page, nor does one given up on; none is an error', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, 40)))
      const good = (await readStoredRef(t.store, 'main')).ref.readHint!
      const expectFallbackPath = async (what: string, segmentReads: number): Promise<void> => {
        const counting = new CountingStore(t.store)
        const repo = await Repository.open(counting)
        counting.reset()
        const r = await repo.resolveBranch('main', { firstPages: true })
        expect(r.firstPages, what).toBeNull()
        expect(r.table.pageCount, what).toBe(40)
        expect(counting.log.filter((c) => c.key.startsWith('segments/')).length, what).toBe(segmentReads)
      }
      const withHint = (hint: ReadHint | undefined) => (ref: Ref): Ref => {
        const { readHint: _, ...rest } = ref
        return hint ? { ...rest, readHint: hint } : rest
      }

      // Shifted by one page: every page's bytes are another page's, so none verifies.
      await editRef(t.store, 'main', withHint({ ...good, runs: [{ ...good.runs[0]!, offset: SIZE }] }))
      await expectFallbackPath('shifted by a page', 1)
      // Not page-aligned: the bytes cannot be pages of this table.
      await editRef(t.store, 'main', withHint({ ...good, runs: [{ ...good.runs[0]!, offset: 7 }] }))
      await expectFallbackPath('misaligned', 1)
      // A range past the segment's end.
      await editRef(t.store, 'main', withHint({ ...good, runs: [{ ...good.runs[0]!, offset: 1 << 20 }] }))
      await expectFallbackPath('past the end', 1)
      // For another snapshot: not even fetched.
      await editRef(t.store, 'main', withHint({ ...good, snapshot: 'f'.repeat(32) as ReadHint['snapshot'] }))
      await expectFallbackPath('stale', 0)
      // Absent (a ref written before hints existed).
      await editRef(t.store, 'main', withHint(undefined))
      await expectFallbackPath('absent', 0)
      // A segment that does not exist.
      await editRef(t.store, 'main', withHint({ ...good, runs: [{ ...good.runs[0]!, segment: 'e'.repeat(64) as ReadHint['runs'][0]['segment'] }] }))
      await expectFallbackPath('no such segment', 1)

      // The right hint, given up on (its deadline passed): the ref and manifest still resolve.
      await editRef(t.store, 'main', withHint(good))
      const abandoned = await (await Repository.open(t.store)).resolveBranch('main', { firstPages: true, signal: AbortSignal.abort() })
      expect(abandoned.firstPages).toBeNull()
      expect(abandoned.table.pageCount).toBe(40)

      // Part right, part wrong: the right pages are kept, the wrong ones left to the reader.
      const run = good.runs[0]!
      await editRef(t.store, 'main', withHint({ ...good, runs: [{ ...run, length: 3 * SIZE }, { ...run, offset: 8 * SIZE, length: 2 * SIZE, first: 4 as typeof run.first }] }))
      const partial = await (await Repository.open(t.store)).resolveBranch('main', { firstPages: true })
      expect(partial.firstPages!.pages).toEqual([1, 2, 3])

      // The right hint again, then its segment deleted (as gc would after a rewrite): the reader
      // gets no page from it, and the branch's own reads fail as they must (the segment is gone).
      await editRef(t.store, 'main', withHint(good))
      expect((await (await Repository.open(t.store)).resolveBranch('main', { firstPages: true })).firstPages!.pages).toHaveLength(HINTED_PAGES)
      await rm(join(t.dir, 'store', ...segmentKey(run.segment).split('/')))
      const gone = await (await Repository.open(t.store)).resolveBranch('main', { firstPages: true })
      expect(gone.firstPages).toBeNull()
    } finally {
      await t.cleanup()
    }
  })

  it('a hint left on a ref whose head moved without it (a hand edit, a writer that kept the field) is ignored', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, 40)))
      await t.repo.createBranch('dev', { from: 'main' })
      await t.repo.commit('dev', { writes: [[1, syntheticDb(SIZE, 40, () => 0x42).subarray(0, SIZE)]] })
      const dev = (await readStoredRef(t.store, 'dev')).ref
      expect(dev.readHint!.snapshot).toBe(dev.head)
      // A ref rewritten by a writer that keeps the field but moves the head (or a hand edit):
      // the hint no longer describes the head, and readers ignore it.
      const main = (await readStoredRef(t.store, 'main')).ref
      await editRef(t.store, 'dev', (ref) => ({ ...ref, head: main.head }))
      const r = await (await Repository.open(t.store)).resolveBranch('dev', { firstPages: true })
      expect(r.head).toBe(main.head)
      expect(r.firstPages).toBeNull()
    } finally {
      await t.cleanup()
    }
  })
})
