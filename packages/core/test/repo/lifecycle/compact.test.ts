import { afterEach, describe, expect, it } from 'vitest'
import { Repository } from '../../../src/index.js'
import { markRoots } from '../../../src/repo/reachability/mark.js'
import { planCompaction, runCompaction } from '../../../src/repo/lifecycle/compact.js'
import { readRoots } from '../../../src/repo/reachability/roots.js'
import { seededRandom } from '../../../src/testing/prng.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER, bytesOf } from './lifecycle-helpers.js'

let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

describe('compaction', () => {
  it('keeps stored bytes within a small factor of live bytes for a branch committed 200 times', { timeout: 120_000 }, async () => {
    const PS = 4096
    const PAGES = 256
    const t = await tempRepo()
    cleanups.push(t.cleanup)
    const db = syntheticDb(PS, PAGES)
    await t.repo.importDatabase(await writeDb(t.dir, 'base.db', db))
    await t.repo.createBranch('work')
    const model = db.slice()
    const rnd = seededRandom(6)
    for (let i = 0; i < 200; i++) {
      const writes = new Map<number, Uint8Array>()
      const n = 1 + Math.floor(rnd() * 4)
      for (let k = 0; k < n; k++) {
        const p = 2 + Math.floor(rnd() * (PAGES - 1))
        const page = testPage(PS, Math.floor(rnd() * 256), p)
        new DataView(page.buffer).setUint32(4, i)
        writes.set(p, page)
      }
      await t.repo.commit('work', { writes })
      for (const [p, page] of writes) model.set(page, (p - 1) * PS)
    }
    const live = async () => (await t.repo.stats({ retention: EAGER.retention })).store.livePageBytes
    const stored0 = await bytesOf(t.store)
    const live0 = await live()

    const plain = await t.repo.gc({ ...EAGER, compact: false })
    const stored1 = await bytesOf(t.store)
    const live1 = await live()
    expect(plain.compacted).toEqual([])

    const compacted = await t.repo.gc(EAGER)
    const stored2 = await bytesOf(t.store)
    const live2 = await live()
    expect(compacted.compacted).toHaveLength(1)
    expect(compacted.compacted[0]).toMatchObject({ branch: 'work' })
    expect(compacted.freed.bytes).toBeGreaterThan(0)

    const figures = {
      logicalBytes: PAGES * PS,
      before: { stored: stored0, live: live0, factor: +(stored0 / live0).toFixed(3) },
      afterGc: { stored: stored1, live: live1, factor: +(stored1 / live1).toFixed(3) },
      afterGcAndCompaction: { stored: stored2, live: live2, factor: +(stored2 / live2).toFixed(3) },
    }
    console.log(`compaction figures (200 commits of 1–4 random pages, ${PAGES} × ${PS} B): ${JSON.stringify(figures)}`)
    expect(stored2 / live2).toBeLessThan(1.2)
    expect(stored2).toBeLessThan(stored1)

    const fresh = await Repository.open(t.store)
    // Buffer comparison: a deep equality over a 1 MiB array is needlessly slow.
    expect(Buffer.from(await fresh.readDatabase('work')).equals(model)).toBe(true)
    expect(Buffer.from(await fresh.readDatabase('main')).equals(db)).toBe(true)
    expect((await fresh.log('work')).map((e) => e.operation)).toEqual(['compact'])
    expect((await fresh.verify({ deep: true })).problems).toEqual([])
    // Compacted heads do not compact again.
    expect((await fresh.compact()).compacted).toEqual([])
  })

  it('rewrites only the mostly-dead segments, keeps content and checksum, and stays off shared heads', async () => {
    const PS = 512
    const t = await tempRepo({ segmentBytes: 4 * PS })
    cleanups.push(t.cleanup)
    await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 16)))
    await t.repo.createBranch('b')
    // One segment with pages 2–5, then pages 2, 3 and 4 overwritten: 1/4 of it stays live.
    await t.repo.commit('b', { writes: [2, 3, 4, 5].map((p) => [p, testPage(PS, 0x10 + p)] as [number, Uint8Array]) })
    await t.repo.commit('b', { writes: [2, 3, 4].map((p) => [p, testPage(PS, 0x20 + p)] as [number, Uint8Array]) })
    const headBefore = (await t.repo.getBranch('b')).head
    const before = await t.repo.snapshot(headBefore)
    const expected = await t.repo.readDatabase('b')

    // Another branch forked from b's head: compaction would store its pages twice, so it waits.
    await t.repo.createBranch('fork', { from: 'b' })
    const shared = await t.repo.compact('b', { retention: EAGER.retention })
    expect(shared).toEqual({ compacted: [], skipped: [{ branch: 'b', reason: 'shared' }] })
    await t.repo.deleteBranch('fork')

    const r = await t.repo.compact('b', { retention: EAGER.retention })
    expect(r.compacted).toEqual([expect.objectContaining({ branch: 'b', segmentsReplaced: 1, pagesRewritten: 1 })])
    const after = await t.repo.snapshot(r.compacted[0]!.snapshot)
    expect(after.checksum).toEqual(before.checksum)
    expect(after.fallback).toEqual(before.fallback)
    expect([...after.pages.pageNos]).toEqual([...before.pages.pageNos])
    expect(after.pages.hashes).toEqual(before.pages.hashes)
    expect(r.compacted[0]!.previous).toBe(headBefore)
    expect(after.parent).toBe(headBefore)
    expect((await t.repo.getBranch('b')).head).toBe(r.compacted[0]!.snapshot)
    expect(after.operation).toBe('compact')
    expect(await (await Repository.open(t.store)).readDatabase('b')).toEqual(expected)
    // The segment written by the second commit was fully live and is still referenced.
    expect(after.segments.some((s) => before.segments[0]!.id === s.id)).toBe(true)
  })

  it('loses a race with a commit cleanly', async () => {
    const PS = 512
    const t = await tempRepo({ segmentBytes: 4 * PS })
    cleanups.push(t.cleanup)
    await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 16)))
    await t.repo.createBranch('b')
    await t.repo.commit('b', { writes: [2, 3, 4, 5].map((p) => [p, testPage(PS, p)] as [number, Uint8Array]) })
    await t.repo.commit('b', { writes: [2, 3, 4].map((p) => [p, testPage(PS, 0x40 + p)] as [number, Uint8Array]) })
    const scan = await readRoots(t.repo.ctx, { retention: EAGER.retention })
    const { plans } = planCompaction(t.repo.ctx, scan, await markRoots(t.repo.ctx, scan), {})
    expect(plans).toHaveLength(1)
    const moved = await t.repo.commit('b', { writes: [[9, testPage(PS, 9)]] })
    const r = await runCompaction(t.repo.ctx, plans)
    expect(r).toEqual({ compacted: [], skipped: [{ branch: 'b', reason: 'conflict' }] })
    expect((await t.repo.getBranch('b')).head).toBe(moved.snapshot)
  })
})
