import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError, type ObjectStore, type SnapshotId } from '../../../src/index.js'
import { FaultyStore, dumpStore } from '../../../src/testing/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const PS = 512
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup(pages = 16) {
  const t = await tempRepo({ segmentBytes: 4 * PS })
  cleanups.push(t.cleanup)
  const db = syntheticDb(PS, pages)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.db', db))
  await t.repo.createBranch('b')
  const head = (await t.repo.getBranch('b')).head
  return { ...t, db, head }
}

const page = (p: number, db: Uint8Array) => db.slice((p - 1) * PS, p * PS)

describe('commitWithRetry', () => {
  it('rebases a change onto a concurrent commit of other pages; both land', async () => {
    const { repo, head, db } = await setup()
    const theirs = await repo.commit('b', { writes: [[2, testPage(PS, 0xa2)]], expectedHead: head })
    const ours = await repo.commitWithRetry('b', { writes: [[5, testPage(PS, 0xa5)]], expectedHead: head })
    expect(ours.changed).toBe(true)
    expect(ours.attempts).toBe(2)
    expect(ours.rebasedOnto).toEqual([theirs.snapshot])
    expect(ours.previous).toBe(theirs.snapshot)
    expect(await repo.readPage('b', 2)).toEqual(testPage(PS, 0xa2))
    expect(await repo.readPage('b', 5)).toEqual(testPage(PS, 0xa5))
    expect(await repo.readPage('b', 3)).toEqual(page(3, db))
    expect((await repo.log('b')).map((e) => e.id).slice(0, 2)).toEqual([ours.snapshot, theirs.snapshot])
  })

  it('refuses overlapping changes with a ConflictError naming the pages, writing nothing', async () => {
    const { repo, store, head } = await setup()
    const theirs = await repo.commit('b', { writes: [[2, testPage(PS, 1)], [7, testPage(PS, 1)], [9, testPage(PS, 1)]] })
    const before = await dumpStore(store)
    const e = await repo.commitWithRetry('b', { writes: [[3, testPage(PS, 2)], [7, testPage(PS, 2)], [9, testPage(PS, 2)]], expectedHead: head }).catch((x) => x)
    expect(isStrataError(e, 'STRATA_CONFLICT')).toBe(true)
    expect(e.data).toMatchObject({ branch: 'b', expected: head, actual: theirs.snapshot, overlapping: [7, 9] })
    expect(e.message).toContain('pages 7, 9')
    expect(await dumpStore(store)).toBe(before)
    expect((await repo.getBranch('b')).head).toBe(theirs.snapshot)
  })

  it('treats the same change made twice as no conflict', async () => {
    const { repo, head } = await setup()
    const theirs = await repo.commit('b', { writes: [[4, testPage(PS, 9)]] })
    const ours = await repo.commitWithRetry('b', { writes: [[4, testPage(PS, 9)]], expectedHead: head })
    expect(ours).toMatchObject({ changed: false, snapshot: theirs.snapshot, attempts: 2 })
  })

  it('checks size changes: a cut under written pages, a growth past a cut', async () => {
    const { repo, head } = await setup(16)
    await repo.commit('b', { pageCount: 12 })
    const e1 = await repo.commitWithRetry('b', { writes: [[14, testPage(PS, 1)]], expectedHead: head }).catch((x) => x)
    expect(e1.data?.overlapping).toEqual([13, 14])
    expect(isStrataError(e1, 'STRATA_CONFLICT')).toBe(true)

    const grown = (await repo.getBranch('b')).head
    await repo.commit('b', { writes: [[13, testPage(PS, 3)], [14, testPage(PS, 4)]], pageCount: 14 })
    const e2 = await repo.commitWithRetry('b', { pageCount: 10, expectedHead: grown }).catch((x) => x)
    expect(e2.data?.overlapping).toEqual([13, 14])
    // A cut that does not touch what they changed rebases.
    const ok = await repo.commitWithRetry('b', { writes: [[1, page(1, syntheticDb(PS, 16))]], pageCount: 14, expectedHead: grown })
    expect(ok.rebasedOnto).toHaveLength(1)
  })

  it('recognises a commit that landed although its answer was lost', async () => {
    const { store, head } = await setup()
    const faulty = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'refs/', when: 'after' }] })
    const repo = await Repository.open(faulty)
    const r = await repo.commitWithRetry('b', { writes: [[6, testPage(PS, 6)]], expectedHead: head })
    expect(faulty.injected).toHaveLength(1)
    expect(r).toMatchObject({ changed: false, attempts: 2 })
    const log = await repo.log('b')
    expect(log[0]!.id).toBe(r.snapshot)
    expect(log[1]!.id).toBe(head)
    expect(await repo.readPage('b', 6)).toEqual(testPage(PS, 6))
  })

  it('retries retryable store failures and gives up after maxAttempts with the store error', async () => {
    const { store, head } = await setup()
    const faulty = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'segments/', times: 2 }] })
    const repo = await Repository.open(faulty)
    const r = await repo.commitWithRetry('b', { writes: [[6, testPage(PS, 6)]], expectedHead: head })
    expect(r).toMatchObject({ changed: true, attempts: 3, rebasedOnto: [] })

    faulty.addRule({ operation: 'put', keyPrefix: 'snapshots/', times: Infinity })
    const e = await repo.commitWithRetry('b', { writes: [[7, testPage(PS, 7)]], maxAttempts: 3 }).catch((x) => x)
    expect(isStrataError(e, 'STRATA_STORE_ERROR')).toBe(true)
    expect(faulty.injected.filter((f) => f.call.key.startsWith('snapshots/'))).toHaveLength(3)
    expect((await repo.getBranch('b')).head).toBe(r.snapshot)

    const fatal = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: 'segments/', error: () => new Error('disk on fire') }] })
    const e2 = await (await Repository.open(fatal)).commitWithRetry('b', { writes: [[8, testPage(PS, 8)]] }).catch((x) => x)
    expect(e2.message).toBe('disk on fire')
    expect(fatal.injected).toHaveLength(1)
  })

  it('gives up on a branch that keeps moving with a ConflictError', async () => {
    const { repo, store } = await setup()
    // Every attempt loses to another writer that commits a different page just before the ref CAS.
    let n = 0
    const other = repo
    const wrapped: ObjectStore = {
      url: store.url,
      get: (key, opts) => store.get(key, opts),
      head: (key, opts) => store.head(key, opts),
      list: (prefix, opts) => store.list(prefix, opts),
      delete: (keys) => store.delete(keys),
      put: async (key, body, opts) => {
        if (key.startsWith('refs/')) {
          n++
          await other.commit('b', { writes: [[10 + (n % 5), testPage(PS, n)]] })
        }
        return store.put(key, body, opts)
      },
    }
    const repo2 = await Repository.open(wrapped)
    const e = await repo2.commitWithRetry('b', { writes: [[2, testPage(PS, 0xee)]], maxAttempts: 4, baseDelayMs: 0 }).catch((x) => x)
    expect(isStrataError(e, 'STRATA_CONFLICT')).toBe(true)
    expect(e.message).toContain('gave up after 4 attempts')
    expect(n).toBe(4)
    expect(e.data.overlapping).toBeUndefined()
  })

  it('validates its options', async () => {
    const { repo } = await setup()
    await expect(repo.commitWithRetry('b', { writes: [], maxAttempts: 0 })).rejects.toMatchObject({ code: 'STRATA_INVALID_ARGUMENT' })
    await expect(repo.commitWithRetry('../b', { writes: [] })).rejects.toMatchObject({ code: 'STRATA_INVALID_NAME' })
    await expect(repo.commitWithRetry('nope', { writes: [] })).rejects.toMatchObject({ code: 'STRATA_BRANCH_NOT_FOUND' })
    const id = 'f'.repeat(32) as SnapshotId
    const e = await repo.commitWithRetry('b', { writes: [[2, testPage(PS, 1)]], expectedHead: id, maxAttempts: 1 }).catch((x) => x)
    // The expected head does not exist: comparing against it is damage, not a silent rebase.
    expect(isStrataError(e, 'STRATA_MISSING_OBJECT')).toBe(true)
  })
})
