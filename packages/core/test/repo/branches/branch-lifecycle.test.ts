import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError } from '../../../src/index.js'
import { snapshotKey } from '../../../src/engine.js'
import { FaultyStore } from '../../../src/testing/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER, keysNeededBy, keysOf } from '../lifecycle/lifecycle-helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup() {
  let now = Date.now()
  const t = await tempRepo({ segmentBytes: 4 * PS, now: () => new Date(now) })
  cleanups.push(t.cleanup)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 16)))
  return { ...t, advance: (ms: number) => void (now += ms) }
}

describe('branch expiry and holds', () => {
  it('gc deletes an expired branch, frees its name and its pages; a held one stays', async () => {
    const { repo, store, advance } = await setup()
    await repo.createBranch('tmp', { ttlMs: 60_000 })
    await repo.commit('tmp', { writes: [[2, testPage(PS, 1)]] })
    await repo.createBranch('kept', { ttlMs: 60_000 })
    await repo.commit('kept', { writes: [[3, testPage(PS, 2)]] })
    const kept = await repo.readDatabase('kept')
    expect((await repo.hold('kept')).record).toMatchObject({ target: 'branch', branch: 'kept' })
    const tmpHead = (await repo.getBranch('tmp')).head

    // Not yet expired.
    expect((await repo.gc(EAGER)).expiredBranches).toEqual([])
    advance(61_000)
    const dry = await repo.gc({ ...EAGER, dryRun: true })
    expect(dry.expiredBranches).toEqual(['tmp'])
    expect(dry.deleted.map((d) => d.key)).toContain(snapshotKey(tmpHead))
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['kept', 'main', 'tmp'])

    const r = await repo.gc(EAGER)
    expect(r.expiredBranches).toEqual(['tmp'])
    expect(r.deleted.map((d) => d.key)).toContain(snapshotKey(tmpHead))
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['kept', 'main'])
    await repo.createBranch('tmp')
    expect(await repo.readDatabase('kept')).toEqual(kept)
    // A held branch cannot be deleted either.
    await expect(repo.deleteBranch('kept')).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_PROTECTED_BRANCH'))
    expect((await repo.unhold('kept'))?.record).toMatchObject({ target: 'branch', branch: 'kept' })
    expect(await repo.unhold('kept')).toBeNull()
    expect((await repo.gc(EAGER)).expiredBranches).toEqual(['kept'])
    expect(await keysOf(store)).toEqual(
      await keysNeededBy(store, await Promise.all(['main', 'tmp'].map((name) => repo.getBranch(name)))),
    )
  })

  it('a branch hold keeps its whole history regardless of retention', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    for (let i = 1; i <= 4; i++) await repo.commit('b', { writes: [[2, testPage(PS, i)]] })
    await repo.hold('b', { reason: 'legal' })
    await repo.gc(EAGER)
    expect(await repo.log('b')).toHaveLength(5)
    expect((await repo.listHolds()).map((h) => h.record)).toEqual([expect.objectContaining({ target: 'branch', branch: 'b', reason: 'legal' })])
    await repo.unhold('b')
    await repo.gc(EAGER)
    expect((await repo.log('b')).map((e) => e.operation)).toEqual(['commit'])
  })

  it('holding is idempotent and unhold takes a snapshot prefix', async () => {
    const { repo } = await setup()
    const head = (await repo.getBranch('main')).head
    const first = await repo.hold(head, { reason: 'one' })
    const again = await repo.hold(head, { reason: 'two' })
    expect(again).toEqual(first)
    expect((await repo.hold('main', { snapshot: true })).key).toBe(first.key)
    expect((await repo.unhold(head.slice(0, 8)))?.key).toBe(first.key)
    expect(await repo.listHolds()).toEqual([])
  })
})

describe('deleteBranch with detachChildren', () => {
  async function chain() {
    const s = await setup()
    const { repo } = s
    await repo.createBranch('featureA')
    await repo.commit('featureA', { writes: [[2, testPage(PS, 0xa1)], [3, testPage(PS, 0xa2)]] })
    await repo.createBranch('experimentA', { from: 'featureA' })
    await repo.commit('experimentA', { writes: [[4, testPage(PS, 0xe1)]] })
    await repo.createBranch('deeper', { from: 'experimentA' })
    await repo.createBranch('sibling', { from: 'main' })
    return s
  }

  it('materializes every branch stacked on the deleted one, then gc frees all of its pages', async () => {
    const { repo, store } = await chain()
    const expected = { experimentA: await repo.readDatabase('experimentA'), deeper: await repo.readDatabase('deeper') }
    const r = await repo.deleteBranch('featureA', { detachChildren: true })
    expect(r.detached.map((d) => d.branch).sort()).toEqual(['deeper', 'experimentA'])
    for (const name of ['experimentA', 'deeper'] as const) {
      expect((await repo.show(name)).fallback).toBeNull()
      expect(await repo.readDatabase(name)).toEqual(expected[name])
    }
    expect((await repo.show('sibling')).fallback).toBeNull() // main's import: it never stacked on featureA
    await repo.gc(EAGER)
    const live = await Promise.all(['main', 'experimentA', 'deeper', 'sibling'].map((name) => repo.getBranch(name)))
    expect(await keysOf(store)).toEqual(await keysNeededBy(store, live))
    await expect((await Repository.open(store)).verify({ deep: true })).resolves.toMatchObject({ ok: true })
  })

  it('is safe to re-run after a crash between materializing and deleting', async () => {
    const { repo, store } = await chain()
    const expected = await repo.readDatabase('deeper')
    // The first run dies when it removes the ref (its tombstone write), after both children were materialized.
    const crashing = await Repository.open(new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'refs/featurea' }] }))
    await expect(crashing.deleteBranch('featureA', { detachChildren: true })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_STORE_ERROR'))
    expect((await repo.getBranch('featureA')).name).toBe('featureA')
    const heads = { e: (await repo.getBranch('experimentA')).head, d: (await repo.getBranch('deeper')).head }
    const again = await repo.deleteBranch('featureA', { detachChildren: true })
    expect(again.detached).toEqual([])
    expect((await repo.getBranch('experimentA')).head).toBe(heads.e)
    expect((await repo.getBranch('deeper')).head).toBe(heads.d)
    expect(await repo.readDatabase('deeper')).toEqual(expected)
    await expect(repo.getBranch('featureA')).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
  })
})
