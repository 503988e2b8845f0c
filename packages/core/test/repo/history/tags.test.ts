import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError } from '../../../src/index.js'
import { TAGS_FOLDED_KEY, encodeTagRecord, legacyTagKey, snapshotKey, tagKey } from '../../../src/engine.js'
import { CountingStore } from '../../../src/testing/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER, keysOf } from '../lifecycle/lifecycle-helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup(clock?: () => Date) {
  const t = await tempRepo({ segmentBytes: 4 * PS, ...(clock ? { now: clock } : {}) })
  cleanups.push(t.cleanup)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 12)))
  return t
}

describe('tags', () => {
  it('create, resolve, list and delete; a tag never moves', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    const c1 = await repo.commit('b', { writes: [[2, testPage(PS, 1)]], message: 'one' })
    const tag = await repo.createTag('v1', 'b', { message: 'first release' })
    expect(tag).toMatchObject({ name: 'v1', snapshot: c1.snapshot, message: 'first release' })
    await repo.commit('b', { writes: [[3, testPage(PS, 2)]], message: 'two' })

    // A tag resolves like a branch or snapshot; it keeps naming the snapshot it was given.
    expect(await repo.resolveTarget('v1')).toEqual({ snapshot: c1.snapshot, branch: null })
    expect(await repo.readDatabase('v1')).toEqual(await repo.readDatabase(c1.snapshot))
    await repo.createTag('release/2026-01', c1.snapshot.slice(0, 8))
    await repo.createTag('alias', 'v1')
    expect((await repo.listTags()).map((t) => [t.name, t.snapshot])).toEqual([
      ['alias', c1.snapshot],
      ['release/2026-01', c1.snapshot],
      ['v1', c1.snapshot],
    ])

    const again = await repo.createTag('v1', 'b').catch((e: unknown) => e)
    expect(isStrataError(again, 'STRATA_TAG_EXISTS')).toBe(true)
    expect((again as Error).message).toMatch(/never move.*strata tag delete v1/)
    const twin = await repo.createTag('V1', 'b').catch((e: unknown) => e)
    expect(isStrataError(twin, 'STRATA_TAG_EXISTS')).toBe(true)
    expect(isStrataError(await repo.createTag('bad name', 'b').catch((e: unknown) => e), 'STRATA_INVALID_NAME')).toBe(true)
    expect(isStrataError(await repo.createTag('x', 'nope').catch((e: unknown) => e), 'STRATA_BRANCH_NOT_FOUND')).toBe(true)

    expect(await repo.deleteTag('alias')).toMatchObject({ name: 'alias', snapshot: c1.snapshot })
    expect(await repo.getTag('alias')).toBeNull()
    expect(isStrataError(await repo.deleteTag('alias').catch((e: unknown) => e), 'STRATA_TAG_NOT_FOUND')).toBe(true)
    // A branch of the same name wins over the tag.
    await repo.createBranch('v1')
    expect((await repo.resolveTarget('v1')).branch).toBe('v1')
  })

  it('case twins share one key, so a create lists nothing once the store holds no tag at a pre-folding key', async () => {
    const { repo, store } = await setup()
    const head = (await repo.getBranch('main')).head
    expect(tagKey('Rel')).toBe(tagKey('rel'))
    // A tag as stores kept one before tag keys were case-folded: at the key of its exact name.
    await store.put(legacyTagKey('Rel'), encodeTagRecord({ name: 'Rel', snapshot: head, createdAt: new Date().toISOString(), message: '' }))
    expect(await repo.getTag('Rel')).toMatchObject({ name: 'Rel', snapshot: head })
    expect(await repo.getTag('rel')).toBeNull()
    expect(await repo.resolveTarget('Rel')).toEqual({ snapshot: head, branch: null })
    // Its twin is refused (found by listing, while such a tag exists), and no marker is written.
    await expect(repo.createTag('rEL', 'main')).rejects.toMatchObject({ code: 'STRATA_TAG_EXISTS', data: { existing: 'Rel' } })
    expect(await store.get(TAGS_FOLDED_KEY)).toBeNull()
    expect(await repo.deleteTag('Rel')).toMatchObject({ name: 'Rel' })
    expect(await store.get(legacyTagKey('Rel'))).toBeNull()
    // The first create that finds none marks the store; creates after it make no listing.
    await repo.createTag('Rel', 'main')
    expect(await store.get(TAGS_FOLDED_KEY)).not.toBeNull()
    const counting = new CountingStore(store)
    const counted = await Repository.open(counting)
    counting.reset()
    await counted.createTag('v2', 'main')
    await expect(counted.createTag('REL', 'main')).rejects.toMatchObject({ code: 'STRATA_TAG_EXISTS', data: { existing: 'Rel' } })
    // (A tag's only listing is the look for running gc sweeps, see confirmNewRoot.)
    expect(counting.log.filter((c) => c.operation === 'list' && !c.key.startsWith('sweeps/'))).toEqual([])
    expect((await repo.listTags()).map((t) => t.name)).toEqual(['Rel', 'v2'])
  })

  it('log and show list tags; log --tag finds snapshots by tag', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    const c1 = await repo.commit('b', { writes: [[2, testPage(PS, 1)]], message: 'one', tags: ['meta'] })
    await repo.commit('b', { writes: [[3, testPage(PS, 2)]], message: 'two' })
    await repo.createTag('v1', c1.snapshot)
    const log = await repo.log('b')
    expect(log.map((e) => [e.message, e.tags])).toEqual([
      ['two', []],
      ['one', ['meta', 'v1']],
      ['import base.db', []],
    ])
    expect((await repo.log('b', { tag: 'v1' })).map((e) => e.id)).toEqual([c1.snapshot])
    expect((await repo.show('v1')).tags).toEqual(['meta', 'v1'])
  })

  it('a tag keeps its snapshot alive through gc; deleting it lets gc free it', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('b')
    const c1 = await repo.commit('b', { writes: [[2, testPage(PS, 1)], [3, testPage(PS, 7)]], message: 'one' })
    const tagged = await repo.readDatabase(c1.snapshot)
    await repo.createTag('keep', c1.snapshot)
    await repo.commit('b', { writes: [[2, testPage(PS, 2)], [3, testPage(PS, 8)]], message: 'two' })
    await repo.gc(EAGER)
    expect(await keysOf(store, snapshotKey(c1.snapshot))).toHaveLength(1)
    expect(await repo.readDatabase('keep')).toEqual(tagged)
    const why = await repo.whyAlive(c1.snapshot, EAGER)
    expect(why.reasons.map((r) => r.root)).toEqual([{ kind: 'tag', name: 'keep', key: tagKey('keep') }])

    await repo.deleteTag('keep')
    const r = await repo.gc(EAGER)
    expect(r.deleted.map((d) => d.key)).toContain(snapshotKey(c1.snapshot))
    expect(await keysOf(store, snapshotKey(c1.snapshot))).toEqual([])
  })
})

describe('reset, then commit, then gc', () => {
  it('the history after the reset point goes only once retention allows', async () => {
    let now = Date.now()
    const { repo, store } = await setup(() => new Date(now))
    await repo.createBranch('b')
    const c1 = await repo.commit('b', { writes: [[2, testPage(PS, 1)]], message: 'one' })
    const atC1 = await repo.readDatabase('b')
    const c2 = await repo.commit('b', { writes: [[3, testPage(PS, 2)]], message: 'two' })
    const c3 = await repo.commit('b', { writes: [[4, testPage(PS, 3)], [13, testPage(PS, 4)]], pageCount: 13, message: 'three' })
    const r = await repo.reset('b', c1.snapshot)
    expect(await repo.readDatabase('b')).toEqual(atC1)
    const c4 = await repo.commit('b', { writes: [[5, testPage(PS, 5)]], message: 'four' })
    const after = await repo.readDatabase('b')
    const messages = async () => (await repo.log('b')).map((e) => e.message)
    expect(await messages()).toEqual(['four', `reset to ${c1.snapshot}`, 'three', 'two', 'one', 'import base.db'])

    // Within the retention window: a gc with no grace keeps every snapshot after the reset point.
    const window = { graceMs: 0, retention: { keepLast: 1, keepWithinMs: 3600_000 } }
    const kept = await repo.gc(window)
    expect(kept.freed.snapshots).toBe(0)
    expect(await messages()).toEqual(['four', `reset to ${c1.snapshot}`, 'three', 'two', 'one', 'import base.db'])
    // keepLast counts the head and the reset snapshot: c3 and c2 are still retained by age.
    await repo.gc({ graceMs: 0, retention: { keepLast: 2, keepWithinMs: 3600_000 } })
    expect(await keysOf(store, snapshotKey(c3.snapshot))).toHaveLength(1)

    // Two hours later the window no longer covers them: keepLast 2 keeps the head and the reset.
    now += 2 * 3600_000
    const freed = await repo.gc({ graceMs: 0, retention: { keepLast: 2, keepWithinMs: 3600_000 } })
    const gone = freed.deleted.map((d) => d.key)
    for (const s of [c1, c2, c3]) expect(gone).toContain(snapshotKey(s.snapshot))
    expect(gone).not.toContain(snapshotKey(c4.snapshot))
    expect(gone).not.toContain(snapshotKey(r.snapshot))
    expect(await messages()).toEqual(['four', `reset to ${c1.snapshot}`])
    // What the branch reads is untouched; the reset snapshot still holds c1's pages.
    expect(await repo.readDatabase('b')).toEqual(after)
    expect(await repo.readDatabase(r.snapshot)).toEqual(atC1)
    expect((await repo.verify()).ok).toBe(true)
  })
})
