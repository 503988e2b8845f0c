import { afterEach, describe, expect, it, vi } from 'vitest'
import { branchKey, encodeTagRecord, refKey, segmentKey, snapshotKey, tagKey } from '../../../src/engine.js'
import { type BranchId, type SnapshotId } from '../../../src/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER } from './lifecycle-helpers.js'
import { ChainLoader } from '../../../src/repo/read/chain.js'
import { readRoots } from '../../../src/repo/reachability/roots.js'
import { MAIN_BRANCH } from '../../../src/format/names.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** main (16 pages, standalone) → a (pages 2, 3) → b (pages 5, 6, then 5 again). */
async function setup() {
  const t = await tempRepo({ segmentBytes: 4 * PS })
  cleanups.push(t.cleanup)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 16)))
  await t.repo.createBranch('a')
  await t.repo.commit('a', { writes: [[2, testPage(PS, 1)], [3, testPage(PS, 2)]] })
  await t.repo.createBranch('b', { from: 'a' })
  const first = await t.repo.commit('b', { writes: [[5, testPage(PS, 3)], [6, testPage(PS, 4)]] })
  const second = await t.repo.commit('b', { writes: [[5, testPage(PS, 5)]] })
  const size = async (key: string) => (await t.store.head(key))!.size
  return { ...t, first: first.snapshot, second: second.snapshot, size }
}

describe('stats', () => {
  it('reports chain depth, own, shared and exclusive bytes per branch', async () => {
    const { repo, size, second } = await setup()
    const s = await repo.stats({ retention: EAGER.retention })
    const by = Object.fromEntries(s.branches.map((b) => [b.name, b]))
    expect(by.main).toMatchObject({ chainDepth: 1, ownPages: 16, ownBytes: 16 * PS, sharedPages: 0, historySnapshots: 0 })
    expect(by.a).toMatchObject({ chainDepth: 2, ownPages: 2, ownBytes: 2 * PS, sharedPages: 14, sharedBytes: 14 * PS })
    expect(by.b).toMatchObject({ chainDepth: 3, ownPages: 2, sharedPages: 14 })
    // main and a are stacked on: deleting either frees only its ref.
    for (const name of ['main', 'a']) {
      expect(by[name]!.exclusiveObjects).toBe(1)
      expect(by[name]!.exclusiveBytes).toBe(await size(refKey(name)))
    }
    // b's head and the new segment of its second commit are b's alone; so is the first
    // commit's segment, whose page 6 the head still reads.
    const head = await repo.snapshot(second)
    let expected = (await size(refKey('b'))) + (await size(snapshotKey(second)))
    for (const seg of head.segments) expected += await size(segmentKey(seg.id))
    expect(by.b!.exclusiveObjects).toBe(2 + head.segments.length)
    expect(by.b!.exclusiveBytes).toBe(expected)
  })

  it('store figures: live vs total, garbage equal to what gc frees, dead pages inside live segments', async () => {
    const { repo, store } = await setup()
    const s = await repo.stats({ retention: EAGER.retention })
    let objects = 0
    let bytes = 0
    for await (const o of store.list('')) (objects++, (bytes += o.size))
    expect(s.store).toMatchObject({ objects, bytes })
    expect(s.store.liveBytes + s.store.garbageBytes).toBe(bytes)
    expect(s.store.byKind.refs.objects).toBe(3)
    expect(s.store.byKind.branches.objects).toBe(0) // format 2.0 writes no branch records
    // The first commit's segment holds pages 5 and 6; only 6 is still read.
    expect(s.store.deadPageBytes).toBe(PS)
    const dry = await repo.gc({ ...EAGER, dryRun: true, compact: false })
    expect(s.store.garbageBytes).toBe(dry.freed.bytes)
    expect(s.store.garbageObjects).toBe(dry.freed.objects)
    // With the default retention the first commit is history that is kept.
    const kept = await repo.stats()
    expect(kept.store.garbageObjects).toBe(0)
    expect(kept.branches.find((b) => b.name === 'b')!.historySnapshots).toBe(1)
  })
})

describe('whyAlive', () => {
  it('reads each manifest once per run, however many roots share it: its cost is the roots read plus one read per snapshot', async () => {
    const { repo } = await setup()
    // 40 branches on b's head, which falls back through a's head to main's: four snapshots behind 43 roots.
    for (let i = 0; i < 40; i++) await repo.createBranch(`leaf${i}`, { from: 'b' })
    const reads = vi.spyOn(ChainLoader.prototype, 'manifest')
    try {
      const counted = async (run: () => Promise<unknown>): Promise<number> => {
        reads.mockClear()
        await run()
        return reads.mock.calls.length
      }
      const mainHead = (await repo.getBranch('main')).head
      const rootsAlone = await counted(() => readRoots(repo.ctx, { protectedBranch: MAIN_BRANCH }))
      let r!: Awaited<ReturnType<typeof repo.whyAlive>>
      const whole = await counted(async () => (r = await repo.whyAlive(mainHead)))
      expect(r.reasons).toHaveLength(43)
      expect(r.reasons.find((x) => x.root.name === 'leaf7')!.path.map((p) => p.via)).toEqual(['head', 'fallback', 'fallback'])
      // b's head, a's head and main's, once each (walking every root's chain read 169).
      expect(whole - rootsAlone).toBe(3)
    } finally {
      reads.mockRestore()
    }
  })

  it('names every root that keeps a snapshot, with its path', async () => {
    const { repo } = await setup()
    const mainHead = (await repo.getBranch('main')).head
    const aHead = (await repo.getBranch('a')).head
    const bHead = (await repo.getBranch('b')).head
    const r = await repo.whyAlive(mainHead)
    expect(r).toMatchObject({ kind: 'snapshot', id: mainHead, exists: true, alive: true, graceUntil: null })
    const paths = Object.fromEntries(r.reasons.map((x) => [`${x.root.kind}:${x.root.name}`, x.path.map((p) => `${p.via}:${p.snapshot}`)]))
    expect(paths).toEqual({
      'branch:main': [`head:${mainHead}`],
      'branch:a': [`head:${aHead}`, `fallback:${mainHead}`],
      'branch:b': [`head:${bHead}`, `fallback:${aHead}`, `fallback:${mainHead}`],
    })
  })

  it('explains a segment, retained history, a tag, and garbage under grace', async () => {
    const { repo, store, first, second } = await setup()
    const firstManifest = await repo.snapshot(first)
    const seg = firstManifest.segments[0]!.id
    // The first commit's segment is read by b's head (page 6) and by the first commit itself.
    const s = await repo.whyAlive(segmentKey(seg))
    expect(s.kind).toBe('segment')
    expect(s.reasons).toEqual([{ root: { kind: 'branch', name: 'b', key: refKey('b') }, path: [expect.objectContaining({ snapshot: second, via: 'head' })] }])

    // History within the default retention: reached from b's head through its parent link.
    const h = await repo.whyAlive(first.slice(0, 10))
    expect(h.reasons[0]!.path.map((p) => [p.via, p.snapshot])).toEqual([['head', second], ['history', first]])

    // Past retention it is garbage, protected for now only by the grace period.
    const g = await repo.whyAlive(first, { retention: EAGER.retention })
    expect(g.alive).toBe(false)
    expect(g.graceUntil).not.toBeNull()
    expect((await repo.whyAlive(first, EAGER)).graceUntil).toBeNull()

    // A tag keeps it.
    await store.put(tagKey('v1'), encodeTagRecord({ name: 'v1', snapshot: first as SnapshotId, createdAt: repo.nowIso(), message: '' }))
    const t = await repo.whyAlive(first, EAGER)
    expect(t.reasons).toEqual([{ root: { kind: 'tag', name: 'v1', key: tagKey('v1') }, path: [expect.objectContaining({ snapshot: first, via: 'target' })] }])
    await expect(repo.whyAlive('not an id')).rejects.toMatchObject({ code: 'STRATA_INVALID_ARGUMENT' })
  })
})
