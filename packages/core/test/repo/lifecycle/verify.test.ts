import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { Repository, type BranchId, type SnapshotId, type VerifyProblemCode } from '../../../src/index.js'
import { branchKey, refKey, segmentKey, snapshotKey } from '../../../src/engine.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** main → a (two commits) → b (one commit): a chain of depth 3 with shared segments. */
async function setup() {
  const t = await tempRepo({ segmentBytes: 4 * PS })
  cleanups.push(t.cleanup)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', syntheticDb(PS, 16)))
  await t.repo.createBranch('a')
  await t.repo.commit('a', { writes: [[2, testPage(PS, 1)], [3, testPage(PS, 2)]] })
  await t.repo.commit('a', { writes: [[4, testPage(PS, 3)]] })
  await t.repo.createBranch('b', { from: 'a' })
  await t.repo.commit('b', { writes: [[5, testPage(PS, 4)]] })
  const fresh = async () => Repository.open(t.store)
  return { ...t, fresh }
}

const codes = (r: { problems: { code: VerifyProblemCode }[] }) => [...new Set(r.problems.map((p) => p.code))].sort()

describe('verify', () => {
  it('passes a sound store and counts what it checked', async () => {
    const { repo } = await setup()
    const r = await repo.verify({ deep: true })
    expect(r.problems).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.checked.refs).toBe(3)
    // main's import, a's two commits (head + history), b's commit.
    expect(r.checked.snapshots).toBe(4)
    expect(r.checked.segments).toBeGreaterThanOrEqual(5)
    // 16 imported pages (the lock page is far away) + a's 3 + b's own page.
    expect(r.checked.pages).toBe(16 + 3 + 1)
  })

  it('finds a deleted segment, naming the branch, snapshot, page and key', async () => {
    const { repo, store, fresh } = await setup()
    const head = await repo.snapshot((await repo.getBranch('b')).head)
    const seg = head.segments[head.pages.segments[0]!]!
    await store.delete([segmentKey(seg.id)])
    const r = await (await fresh()).verify()
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual([
      expect.objectContaining({ code: 'missing-segment', branch: 'b', snapshot: (await repo.getBranch('b')).head, page: 5, key: segmentKey(seg.id) }),
    ])
  })

  it('finds a truncated segment', async () => {
    const { repo, store, fresh } = await setup()
    const m = await repo.snapshot((await repo.getBranch('main')).head)
    const key = segmentKey(m.segments[1]!.id)
    const got = await store.get(key)
    await store.put(key, got!.body.subarray(0, got!.body.byteLength - 100))
    const r = await (await fresh()).verify()
    expect(codes(r)).toEqual(['truncated-segment'])
    expect(r.problems[0]).toMatchObject({ key, snapshot: (await repo.getBranch('main')).head })
  })

  it('finds a flipped byte only when deep', async () => {
    const { repo, store, fresh } = await setup()
    const m = await repo.snapshot((await repo.getBranch('a')).head)
    const e = [...m.pages.pageNos].indexOf(3)
    const key = segmentKey(m.segments[m.pages.segments[e]!]!.id)
    const got = await store.get(key)
    const bytes = new Uint8Array(got!.body)
    bytes[m.pages.slots[e]! * PS + 100]! ^= 0x01
    await store.put(key, bytes)
    expect((await (await fresh()).verify()).ok).toBe(true)
    const deep = await (await fresh()).verify({ deep: true })
    expect(deep.problems).toEqual([expect.objectContaining({ code: 'corrupt-page', page: 3, key, branch: 'a' })])
  })

  it('finds a snapshot deleted in the middle of a chain', async () => {
    const { repo, store, fresh } = await setup()
    const middle = (await repo.getBranch('b')).base // a's head, which b stacks on
    await store.delete([snapshotKey(middle)])
    const r = await (await fresh()).verify()
    expect(r.problems).toContainEqual(expect.objectContaining({ code: 'missing-snapshot', branch: 'b', snapshot: (await repo.getBranch('b')).head, key: snapshotKey(middle) }))
    // a's head is that very snapshot: its ref dangles.
    expect(r.problems).toContainEqual(expect.objectContaining({ code: 'dangling-ref', branch: 'a', snapshot: middle, key: refKey('a') }))
  })

  it('finds a dangling ref and a missing branch record', async () => {
    const { repo, store, fresh } = await setup()
    const main = await repo.getBranch('main')
    // A ref pointing at a snapshot that never existed.
    const raw = await store.get(refKey('b'))
    const { decodeRef, encodeRef } = await import('../../../src/engine.js')
    const ref = decodeRef(refKey('b'), raw!.body)
    const bogus = '0123456789abcdef0123456789abcdef' as SnapshotId
    await store.put(refKey('b'), encodeRef({ ...ref, head: bogus }))
    // A ref as format 1.x wrote it (no origin) needs its branch record, and it has none.
    const mainRef = decodeRef(refKey('main'), (await store.get(refKey('main')))!.body)
    const { origin: _, ...bare } = mainRef
    await store.put(refKey('main'), encodeRef(bare))
    await store.delete([branchKey(main.branchId as BranchId)])
    const r = await (await fresh()).verify()
    expect(codes(r)).toEqual(['dangling-ref', 'missing-branch-record'])
    expect(r.problems).toContainEqual(expect.objectContaining({ code: 'dangling-ref', branch: 'b', snapshot: bogus, key: refKey('b') }))
    expect(r.problems).toContainEqual(expect.objectContaining({ code: 'missing-branch-record', branch: 'main', key: branchKey(main.branchId as BranchId) }))
  })

  it('collects several problems in one run', async () => {
    const { repo, store, fresh } = await setup()
    const b = await repo.snapshot((await repo.getBranch('b')).head)
    const main = await repo.snapshot((await repo.getBranch('main')).head)
    await store.delete([segmentKey(b.segments[0]!.id), segmentKey(main.segments[3]!.id)])
    const r = await (await fresh()).verify()
    expect(r.problems.filter((p) => p.code === 'missing-segment')).toHaveLength(2)
  })

  it('runs the integrity hook on an export of each sound branch head', async () => {
    const { repo } = await setup()
    const seen: string[] = []
    const r = await repo.verify({
      integrity: async ({ path, branch }) => {
        const bytes = new Uint8Array(await readFile(path))
        expect(bytes).toEqual(await repo.readDatabase(branch))
        seen.push(branch)
        return branch === 'b' ? ['*** in database main ***\nPage 5: btreeInitPage() returns error code 11'] : []
      },
    })
    expect(seen.sort()).toEqual(['a', 'b', 'main'])
    expect(r.problems).toEqual([expect.objectContaining({ code: 'integrity', branch: 'b' })])
  })
})
