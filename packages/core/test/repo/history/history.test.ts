import { afterEach, describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/index.js'
import { CountingStore } from '../../../src/testing/index.js'
import { Repository } from '../../../src/repo/repository.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup(clock?: () => Date) {
  const t = await tempRepo({ segmentBytes: 4 * PS, ...(clock ? { now: clock } : {}) })
  cleanups.push(t.cleanup)
  const db = syntheticDb(PS, 12)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', db))
  return { ...t, db }
}

describe('history: log filters, reset, diff, map', () => {
  it('filters the log by time, tag and limit', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z')
    const { repo } = await setup(() => new Date(now))
    await repo.createBranch('b')
    for (let i = 1; i <= 5; i++) {
      now += 3600_000
      await repo.commit('b', { writes: [[2, testPage(PS, i)]], message: `c${i}`, tags: i % 2 ? ['odd'] : [] })
    }
    expect((await repo.log('b')).map((e) => e.message)).toEqual(['c5', 'c4', 'c3', 'c2', 'c1', 'import base.db'])
    expect((await repo.log('b', { limit: 2 })).map((e) => e.message)).toEqual(['c5', 'c4'])
    expect((await repo.log('b', { tag: 'odd' })).map((e) => e.message)).toEqual(['c5', 'c3', 'c1'])
    const since = new Date(Date.parse('2026-01-01T02:30:00Z'))
    const until = new Date(Date.parse('2026-01-01T04:30:00Z'))
    expect((await repo.log('b', { since, until })).map((e) => e.message)).toEqual(['c4', 'c3'])
  })

  it('resets a branch to an earlier snapshot, keeping later ones in history', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    const c1 = await repo.commit('b', { writes: [[2, testPage(PS, 1)]], message: 'one' })
    const before = await repo.readDatabase('b')
    await repo.commit('b', { writes: [[3, testPage(PS, 2)], [13, testPage(PS, 3)]], pageCount: 13, message: 'two' })
    const r = await repo.reset('b', c1.snapshot.slice(0, 10))
    expect(await repo.readDatabase('b')).toEqual(before)
    expect(r.pagesUploaded).toBe(0)
    const log = await repo.log('b')
    expect(log.map((e) => e.message)).toEqual([`reset to ${c1.snapshot}`, 'two', 'one', 'import base.db'])
    // Commits after a reset still stack on the branch's base, not on the reset snapshot.
    await repo.commit('b', { writes: [[4, testPage(PS, 4)]] })
    expect((await repo.show('b')).chain).toHaveLength(2)
  })

  it('refuses a snapshot outside the branch history unless forced, and explains', async () => {
    const { repo } = await setup()
    await repo.createBranch('a')
    await repo.createBranch('b')
    const other = await repo.commit('a', { writes: [[2, testPage(PS, 9)]] })
    const e = await repo.reset('b', other.snapshot).catch((x) => x)
    expect(isStrataError(e, 'STRATA_INVALID_ARGUMENT')).toBe(true)
    expect(e.message).not.toContain('--force')
    expect(e).toMatchObject({ hint: 'force' })
    await repo.reset('b', other.snapshot, { force: true })
    expect(await repo.readDatabase('b')).toEqual(await repo.readDatabase('a'))
  })

  it('diffs pages from page tables without reading any page', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('a')
    await repo.commit('a', { writes: [[2, testPage(PS, 1)], [5, testPage(PS, 2)]] })
    await repo.createBranch('b', { from: 'a' })
    await repo.commit('b', { writes: [[5, testPage(PS, 3)], [7, testPage(PS, 4)], [13, testPage(PS, 5)]], pageCount: 13 })
    const counting = new CountingStore(store)
    const fresh = await Repository.open(counting)
    counting.reset()
    const d = await fresh.diffPages('a', 'b')
    expect(d.changed).toEqual([5, 7])
    expect(d.added).toEqual([13])
    expect(d.removed).toEqual([])
    // Only refs and manifests were read: no segment.
    const segReads = counting.log.filter((c) => c.operation === 'get' && c.key.startsWith('segments/'))
    expect(segReads).toEqual([])
    const same = await fresh.diffPages('a', 'a')
    expect([same.changed, same.added, same.removed]).toEqual([[], [], []])
  })

  it('maps page ranges to the snapshots that serve them', async () => {
    const { repo } = await setup()
    await repo.createBranch('a')
    await repo.commit('a', { writes: [[3, testPage(PS, 1)], [4, testPage(PS, 2)]] })
    const map = await repo.pageMap('a')
    const head = (await repo.getBranch('a')).head
    const root = (await repo.getBranch('main')).head
    expect(map.ranges.map((r) => [r.from, r.to, r.snapshot, r.depth])).toEqual([
      [1, 2, root, 1],
      [3, 4, head, 0],
      [5, 12, root, 1],
    ])
  })
})
