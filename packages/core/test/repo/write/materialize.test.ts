import { afterEach, describe, expect, it } from 'vitest'
import { refKey, segmentKey, snapshotKey } from '../../../src/engine.js'
import { LocalStore, Repository, type BranchId } from '../../../src/index.js'
import { CountingStore } from '../../../src/testing/index.js'
import { sameBytes, scratch, syntheticDb, testPage, writeDb } from '../../helpers.js'
import { EAGER } from '../lifecycle/lifecycle-helpers.js'

const PS = 512
const PAGES = 32
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** main (32 pages, 8 per segment) → a (pages 2, 3) → b (pages 5, 6), on a counted local store. */
async function setup() {
  const s = await scratch()
  cleanups.push(s.cleanup)
  const local = new LocalStore(`${s.dir}/store`)
  const store = new CountingStore(local)
  const repo = await Repository.init(store, { segmentBytes: 8 * PS })
  await repo.importDatabase(await writeDb(s.dir, 'base.db', syntheticDb(PS, PAGES)))
  await repo.createBranch('a')
  await repo.commit('a', { writes: [[2, testPage(PS, 1)], [3, testPage(PS, 2)]] })
  await repo.createBranch('b', { from: 'a' })
  await repo.commit('b', { writes: [[5, testPage(PS, 3)], [6, testPage(PS, 4)]] })
  const size = async (key: string) => (await local.head(key))!.size
  return { repo, store, local, dir: s.dir, size }
}

describe('materialize by reference', () => {
  it('writes one manifest and the ref, reads no page, and the result needs no ancestor', async () => {
    const { repo, store } = await setup()
    const before = await repo.readDatabase('b')
    const chain = (await repo.show('b')).chain
    store.reset()
    const r = await repo.materialize('b')
    expect(r).toMatchObject({ mode: 'reference', ownPages: PAGES, pagesReferenced: PAGES, pagesUploaded: 0, segmentsReferenced: 6 })
    expect(store.log.filter((c) => c.operation === 'put').map((c) => c.key)).toEqual([snapshotKey(r.snapshot), refKey('b')])
    expect(store.log.filter((c) => c.key.startsWith('segments/'))).toEqual([])
    const show = await repo.show('b')
    expect(show).toMatchObject({ fallback: null, ownPages: PAGES })
    expect(show.chain.map((l) => l.id)).toEqual([r.snapshot])
    // The same checksum as the head it flattens, and the same bytes.
    expect(show.checksum).toBe((await repo.snapshot(chain[0]!.id).then((m) => Buffer.from(m.checksum).toString('hex'))))
    expect(sameBytes(await repo.readDatabase('b'), before, PS)).toBe(true)
    expect((await repo.verify({ deep: true })).problems).toEqual([])
    // Commits after it stack on it, as on a copied one.
    await repo.commit('b', { writes: [[7, testPage(PS, 9)]] })
    expect((await repo.show('b')).chain.map((l) => l.id)).toEqual([(await repo.show('b')).id, r.snapshot])
  })

  it('copy rewrites every page into fresh, contiguous segments', async () => {
    const { repo, store } = await setup()
    const before = await repo.readDatabase('b')
    store.reset()
    const r = await repo.materialize('b', { copy: true })
    expect(r).toMatchObject({ mode: 'copy', pagesReferenced: 0, segmentsReferenced: 0, pagesUploaded: PAGES })
    const mine = await repo.snapshot(r.snapshot)
    expect(mine.segments.map((s) => s.length)).toEqual([8 * PS, 8 * PS, 8 * PS, 8 * PS])
    // It shares nothing with the commits it flattened (a run identical to an imported segment is that segment: content addressing).
    const ofA = new Set((await repo.snapshot((await repo.show('a')).id)).segments.map((s) => s.id))
    for (const s of mine.segments) expect(ofA.has(s.id)).toBe(false)
    expect(sameBytes(await repo.readDatabase('b'), before, PS)).toBe(true)
  })

  it('keeps the segments it references through the deletion of every ancestor; stats and why-alive account for them', async () => {
    const { repo, size } = await setup()
    const expected = await repo.readDatabase('b')
    const aHead = await repo.snapshot((await repo.show('a')).id)
    const aSegment = aHead.segments[0]!.id
    await repo.materialize('b')
    await repo.deleteBranch('a')
    await repo.gc(EAGER)
    // a's commit segment is kept by b alone now: why-alive names b, and b's "freed if deleted" counts it.
    const why = await repo.whyAlive(aSegment, { retention: EAGER.retention })
    expect(why.reasons.map((x) => `${x.root.kind} ${x.root.name}`)).toEqual(['branch b'])
    const s = await repo.stats({ retention: EAGER.retention })
    const by = Object.fromEntries(s.branches.map((x) => [x.name, x]))
    const bHead = await repo.snapshot(by.b!.head)
    const mainHead = await repo.snapshot(by.main!.head)
    const shared = new Set(mainHead.segments.map((x) => x.id))
    let bOnly = (await size(refKey('b'))) + (await size(snapshotKey(by.b!.head)))
    for (const seg of bHead.segments) if (!shared.has(seg.id)) bOnly += await size(segmentKey(seg.id))
    expect(by.b!.exclusiveBytes).toBe(bOnly)
    expect(bHead.segments.some((x) => x.id === aSegment)).toBe(true)
    // main's import segments are shared with b: deleting main would free none of them.
    expect(by.main!.exclusiveBytes).toBe((await size(refKey('main'))) + (await size(snapshotKey(by.main!.head))))
    expect(s.store.garbageBytes).toBe(0)
    expect(sameBytes(await repo.readDatabase('b'), expected, PS)).toBe(true)
    expect((await repo.verify({ deep: true })).problems).toEqual([])
  })

  it('compact recognises a fragmented materialized head and rewrites it as the branch base', async () => {
    const { repo } = await setup()
    // Twelve one-page commits: twelve small segments for the flattened head to reference.
    for (let i = 0; i < 12; i++) await repo.commit('b', { writes: [[8 + i, testPage(PS, 20 + i)]] })
    const expected = await repo.readDatabase('b')
    const flat = await repo.materialize('b')
    const c = await repo.compact('b', { retention: EAGER.retention })
    expect(c.compacted.map((x) => [x.branch, x.previous])).toEqual([['b', flat.snapshot]])
    const ref = await repo.getBranch('b')
    expect([ref.head, ref.base]).toEqual([c.compacted[0]!.snapshot, c.compacted[0]!.snapshot])
    expect((await repo.show('b')).fallback).toBeNull()
    expect(sameBytes(await repo.readDatabase('b'), expected, PS)).toBe(true)
    await repo.deleteBranch('a')
    await repo.gc(EAGER)
    expect(sameBytes(await repo.readDatabase('b'), expected, PS)).toBe(true)
    expect((await repo.verify({ deep: true })).problems).toEqual([])
  })

  it('branch delete --detach-children materializes children by reference, or as copies with copy', async () => {
    const { repo } = await setup()
    await repo.createBranch('c', { from: 'a' })
    const expected = { b: await repo.readDatabase('b'), c: await repo.readDatabase('c') }
    const byRef = await repo.deleteBranch('a', { detachChildren: true })
    expect(byRef.detached.map((d) => [d.branch, d.mode, d.pagesUploaded]).sort()).toEqual([['b', 'reference', 0], ['c', 'reference', 0]])
    await repo.createBranch('d', { from: 'b' })
    await repo.commit('d', { writes: [[4, testPage(PS, 7)]] })
    const copied = await repo.deleteBranch('b', { detachChildren: true, copy: true })
    expect(copied.detached.map((d) => [d.branch, d.mode, d.pagesUploaded])).toEqual([['d', 'copy', PAGES]])
    await repo.gc(EAGER)
    expect(sameBytes(await repo.readDatabase('c'), expected.c, PS)).toBe(true)
    const d = await repo.readDatabase('d')
    expect(sameBytes(d.subarray(0, 3 * PS), expected.b.subarray(0, 3 * PS), PS)).toBe(true)
    expect((await repo.verify({ deep: true })).problems).toEqual([])
  })
})
