import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError, type SnapshotId } from '../../../src/index.js'
import { SWEEPS_ENDED_PREFIX, encodePinRecord, encodeTagRecord, pinKey, segmentKey, snapshotKey, tagKey } from '../../../src/engine.js'
import { FaultyStore } from '../../../src/testing/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER, HookStore, bytesOf, keysNeededBy, keysOf } from './lifecycle-helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup(pages = 16) {
  let now = Date.now()
  const clock = { advance: (ms: number) => void (now += ms) }
  const t = await tempRepo({ segmentBytes: 4 * PS, now: () => new Date(now) })
  cleanups.push(t.cleanup)
  const db = syntheticDb(PS, pages)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', db))
  return { ...t, db, clock }
}

/** The snapshot, segment and branch-record keys a head needs that `others` do not. */
async function ownKeys(repo: Repository, b: string) {
  const ref = await repo.getBranch(b)
  return keysNeededBy(repo.store, [{ name: b, branchId: ref.branchId, head: ref.head }])
}

describe('gc: mark and sweep', () => {
  it('keeps everything live; a dry run lists exactly what the real run then deletes', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('b')
    const heads: SnapshotId[] = []
    for (let i = 1; i <= 3; i++) heads.push((await repo.commit('b', { writes: [[2, testPage(PS, i)], [3 + i, testPage(PS, 10 + i)]] })).snapshot)
    const before = await keysOf(store)
    const dry = await repo.gc({ ...EAGER, dryRun: true, compact: false })
    expect(dry.dryRun).toBe(true)
    expect(await keysOf(store)).toEqual(before)
    // The two older heads go, with the segments only they reference; pages 4 and 5 are carried into the head.
    expect(dry.deleted.filter((d) => d.kind === 'snapshot').map((d) => d.key).sort()).toEqual([snapshotKey(heads[0]!), snapshotKey(heads[1]!)].sort())
    expect(dry.freed.bytes).toBe(dry.deleted.reduce((n, d) => n + d.size, 0))
    expect(dry.freed.bytes).toBeGreaterThan(0)

    const real = await repo.gc({ ...EAGER, compact: false })
    expect(real.deleted.map((d) => d.key)).toEqual(dry.deleted.map((d) => d.key))
    expect(real.freed).toEqual(dry.freed)
    // ...and it leaves the record that its sweep ended (see keysNeededBy).
    expect(await keysOf(store)).toEqual([...before.filter((k) => !dry.deleted.some((d) => d.key === k)), ...(await keysOf(store, SWEEPS_ENDED_PREFIX))].sort())
    expect((await bytesOf(store)) - (await bytesOf(store, SWEEPS_ENDED_PREFIX))).toBe(real.scanned.bytes - real.freed.bytes)
    expect(await repo.readDatabase('b')).toEqual(await (await Repository.open(store)).readDatabase('b'))
    expect((await repo.verify({ deep: true })).problems).toEqual([])
    // Nothing left to collect.
    expect((await repo.gc(EAGER)).deleted).toEqual([])
  })

  it('deleting the middle of main → featureA → experimentA frees only what no descendant reaches', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('featureA')
    await repo.commit('featureA', { writes: [[2, testPage(PS, 0xa1)], [3, testPage(PS, 0xa2)]] })
    await repo.commit('featureA', { writes: [[4, testPage(PS, 0xa3)]] })
    await repo.createBranch('experimentA', { from: 'featureA' })
    await repo.commit('experimentA', { writes: [[7, testPage(PS, 0xe1)]] })
    // featureA moves on after experimentA forked: this page only featureA's head reads.
    await repo.commit('featureA', { writes: [[5, testPage(PS, 0xa4)]] })
    const experiment = await repo.readDatabase('experimentA')
    const needed = await keysNeededBy(store, await Promise.all(['main', 'experimentA'].map((n) => repo.getBranch(n))))
    const featureHead = await repo.snapshot((await repo.getBranch('featureA')).head)
    const pageFiveSegment = featureHead.segments[featureHead.pages.segments[[...featureHead.pages.pageNos].indexOf(5)]!]!

    await repo.deleteBranch('featureA')
    await expect(repo.getBranch('featureA')).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
    await repo.createBranch('featureA') // the name is free at once

    const before = await bytesOf(store)
    const r = await repo.gc({ ...EAGER, compact: false })
    // What is left is exactly main, experimentA (with the featureA snapshot it stacks on) and the new featureA.
    const reborn = await repo.getBranch('featureA')
    expect(await keysOf(store)).toEqual([...new Set([...needed, ...(await keysNeededBy(store, [reborn]))])].sort())
    expect(r.deleted.map((d) => d.key)).toContain(segmentKey(pageFiveSegment.id))
    expect(r.deleted.map((d) => d.key)).not.toContain(snapshotKey((await repo.getBranch('experimentA')).base))
    expect((await bytesOf(store)) - (await bytesOf(store, SWEEPS_ENDED_PREFIX))).toBe(before - r.freed.bytes)
    // featureA's page 5 (one page) and the segments of its superseded commits are freed.
    expect(r.freed.segments).toBeGreaterThanOrEqual(1)
    expect(await repo.readDatabase('experimentA')).toEqual(experiment)

    // Deleting experimentA too leaves main and the new, empty featureA.
    await repo.deleteBranch('experimentA')
    await repo.gc({ ...EAGER, compact: false })
    expect(await keysOf(store)).toEqual(await keysNeededBy(store, [await repo.getBranch('main'), reborn]))
    expect((await repo.verify({ deep: true })).ok).toBe(true)
  })

  it('never sweeps the uploads of an in-flight commit within the grace period', async () => {
    const { repo, store, clock } = await setup()
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[2, testPage(PS, 1)]] })
    const expected = await repo.readDatabase('b')
    // A writer whose ref update never happens: segments and manifest land, the ref stays.
    const faulty = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'refs/', when: 'before' }] })
    const writer = await Repository.open(faulty)
    const before = await keysOf(store)
    await expect(writer.commit('b', { writes: [[3, testPage(PS, 2)], [9, testPage(PS, 3)]] })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_STORE_ERROR'))
    const inFlight = (await keysOf(store)).filter((k) => !before.includes(k))
    expect(inFlight.filter((k) => k.startsWith('snapshots/'))).toHaveLength(1)
    expect(inFlight.filter((k) => k.startsWith('segments/')).length).toBeGreaterThanOrEqual(1)

    const kept = await repo.gc({ retention: EAGER.retention })
    expect(kept.deleted).toEqual([])
    expect(kept.protectedByGrace.objects).toBe(inFlight.length)
    for (const k of inFlight) expect(await store.head(k)).not.toBeNull()

    // Past the grace period (by the repository's clock) they are unreferenced garbage.
    clock.advance(16 * 60 * 1000)
    const swept = await repo.gc({ retention: EAGER.retention })
    expect(swept.deleted.map((d) => d.key).sort()).toEqual(inFlight.sort())
    expect(await (await Repository.open(store)).readDatabase('b')).toEqual(expected)
    expect((await repo.verify()).ok).toBe(true)
  })

  it('with grace 0 sweeps an unreferenced in-flight commit but nothing a ref reaches', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('b')
    const faulty = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'refs/', when: 'before' }] })
    const before = await keysOf(store)
    await expect((await Repository.open(faulty)).commit('b', { writes: [[3, testPage(PS, 2)]] })).rejects.toThrow()
    const inFlight = (await keysOf(store)).filter((k) => !before.includes(k))
    const live = await repo.commit('b', { writes: [[4, testPage(PS, 5)]] })
    const r = await repo.gc(EAGER)
    expect(r.deleted.map((d) => d.key).sort()).toEqual(inFlight.sort())
    expect(await store.head(snapshotKey(live.snapshot))).not.toBeNull()
    expect((await repo.verify({ deep: true })).ok).toBe(true)
  })

  it('a commit that lands after the listing survives, and so does a commit landing mid-sweep', async () => {
    const { store } = await setup()
    const hooked = new HookStore(store)
    const repo = await Repository.open(hooked)
    const other = await Repository.open(store)
    await repo.createBranch('b')
    for (let i = 1; i <= 3; i++) await repo.commit('b', { writes: [[2 + i, testPage(PS, i)]] })
    let landed: SnapshotId | null = null
    hooked.afterFullList = async () => {
      landed = (await other.commit('b', { writes: [[2, testPage(PS, 0x42)]] })).snapshot
    }
    await repo.gc(EAGER)
    expect(landed).not.toBeNull()
    expect((await other.getBranch('b')).head).toBe(landed)
    const after1 = await other.readDatabase('b')
    expect(after1.subarray(PS, 2 * PS)).toEqual(testPage(PS, 0x42))
    expect((await (await Repository.open(store)).verify({ deep: true })).problems).toEqual([])

    let midSweep: SnapshotId | null = null
    hooked.beforeDelete = async () => {
      midSweep = (await other.commit('b', { writes: [[8, testPage(PS, 0x43)]] })).snapshot
    }
    await other.commit('b', { writes: [[9, testPage(PS, 0x44)]] }) // leaves garbage so gc deletes something
    const r = await repo.gc(EAGER)
    expect(r.deleted.length).toBeGreaterThan(0)
    expect((await other.getBranch('b')).head).toBe(midSweep)
    const fresh = await Repository.open(store)
    const bytes = await fresh.readDatabase('b')
    expect(bytes.subarray(7 * PS, 8 * PS)).toEqual(testPage(PS, 0x43))
    expect(bytes.subarray(8 * PS, 9 * PS)).toEqual(testPage(PS, 0x44))
    expect((await fresh.verify({ deep: true })).problems).toEqual([])
  })

  it('retention keeps the last N snapshots and those newer than a duration', async () => {
    const { repo, clock } = await setup()
    await repo.createBranch('b')
    const heads: SnapshotId[] = []
    for (let i = 1; i <= 6; i++) {
      clock.advance(60 * 60 * 1000)
      heads.push((await repo.commit('b', { writes: [[2, testPage(PS, i)]] })).snapshot)
    }
    await repo.gc({ graceMs: 0, retention: { keepLast: 3, keepWithinMs: 0 }, compact: false })
    expect((await repo.log('b')).map((e) => e.id)).toEqual(heads.slice(3).reverse())
    // Within 2.5 hours: the head (0 h), 1 h and 2 h old.
    await repo.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 2.5 * 60 * 60 * 1000 }, compact: false })
    expect((await repo.log('b')).map((e) => e.id)).toEqual(heads.slice(3).reverse())
    clock.advance(60 * 60 * 1000)
    await repo.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 2.5 * 60 * 60 * 1000 }, compact: false })
    expect((await repo.log('b')).map((e) => e.id)).toEqual(heads.slice(4).reverse())
    await expect(repo.gc({ retention: { keepLast: 0 } })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_INVALID_ARGUMENT'))
  })

  it('tags, snapshot holds and pins keep a snapshot and its chain past retention', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('b')
    const tagged = (await repo.commit('b', { writes: [[2, testPage(PS, 1)]] })).snapshot
    const held = (await repo.commit('b', { writes: [[2, testPage(PS, 2)]] })).snapshot
    const pinned = (await repo.commit('b', { writes: [[2, testPage(PS, 3)]] })).snapshot
    const gone = (await repo.commit('b', { writes: [[2, testPage(PS, 4)]] })).snapshot
    await repo.commit('b', { writes: [[2, testPage(PS, 5)]] })
    const createdAt = repo.nowIso()
    await store.put(tagKey('v1'), encodeTagRecord({ name: 'v1', snapshot: tagged, createdAt, message: 'release' }))
    await repo.hold(held, { reason: 'audit' })
    await store.put(pinKey('0d9e4c1a-8b1e-4b55-9d7c-2f4f0a1b2c3d', pinned), encodePinRecord({ snapshot: pinned, dependentStore: { url: 'file:///elsewhere', id: '0d9e4c1a-8b1e-4b55-9d7c-2f4f0a1b2c3d' }, createdAt }))
    const r = await repo.gc({ ...EAGER, compact: false })
    expect(r.deleted.map((d) => d.key)).toContain(snapshotKey(gone))
    const fresh = await Repository.open(store)
    for (const [id, fill] of [[tagged, 1], [held, 2], [pinned, 3]] as const) {
      expect((await fresh.readDatabase(id)).subarray(PS, 2 * PS)).toEqual(testPage(PS, fill))
    }
    expect((await fresh.verify({ deep: true })).problems).toEqual([])
    // Without the hold, the held snapshot is history past retention.
    expect((await repo.unhold(held))?.record).toMatchObject({ target: 'snapshot', snapshot: held, reason: 'audit' })
    expect((await repo.gc({ ...EAGER, compact: false })).deleted.map((d) => d.key)).toContain(snapshotKey(held))
  })

  it('aborts before deleting anything when a root is damaged', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[2, testPage(PS, 1)]] })
    await repo.commit('b', { writes: [[2, testPage(PS, 2)]] })
    const base = (await repo.getBranch('b')).base
    await store.delete([snapshotKey(base)])
    const before = await keysOf(store)
    const fresh = await Repository.open(store)
    await expect(fresh.gc(EAGER)).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_MISSING_OBJECT'))
    expect(await keysOf(store)).toEqual(before)
  })

  it('reports mark and sweep progress', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[2, testPage(PS, 1)]] })
    await repo.commit('b', { writes: [[2, testPage(PS, 2)]] })
    const phases = new Set<string>()
    let last = { phase: '', loaded: 0, total: 0 }
    await repo.gc({ ...EAGER, onProgress: (p) => (phases.add(p.phase), (last = p)) })
    expect([...phases]).toEqual(['mark', 'sweep'])
    expect(last.loaded).toBe(last.total)
  })
})
