import { afterEach, describe, expect, it } from 'vitest'
import { Repository, StoreError, isStrataError, type ObjectStore, type SnapshotId } from '@strata/core'
import { refKey, snapshotKey } from '@strata/core/engine'
import { FaultyStore, InterceptingStore, localStoreFixture, tempDir, type StoreCall } from '@strata/core/testing'
import { syntheticDb, writeDb } from './support/databases.js'
import { stampedPage } from './support/pages.js'
import { PausingStore, writes, type Pause } from './support/pausing-store.js'
import { TARGETS } from './support/targets.js'

// The windows in which a racing operation could lose a commit or a snapshot, each forced open
// deterministically: one side is held at its dangerous moment (a PausingStore stops the store call
// there) while the other side runs to the end; then the first goes on. Nothing reported as
// successful may be lost, and each operation either succeeds or fails with a typed error.

const PS = 512
const EAGER = { graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 }, compact: false } as const

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * A fresh repository on `make`'s store with `main` imported (16 pages), and a second one (`racer`)
 * on the same store seen through a PausingStore. Both run on one clock that `skew(ms)` moves ahead.
 */
async function world(make: () => Promise<{ store: ObjectStore; cleanup(): Promise<void> }>) {
  const { store, cleanup } = await make()
  cleanups.push(cleanup)
  const dir = await tempDir('strata-loss-')
  cleanups.push(dir.cleanup)
  let ahead = 0
  const now = (): Date => new Date(Date.now() + ahead)
  const repo = await Repository.init(store, { segmentBytes: 4 * PS, now })
  await repo.importDatabase(await writeDb(dir.path, 'db.sqlite', syntheticDb(PS, 16)))
  const paused = new PausingStore(store)
  const skew = (ms: number): void => {
    ahead = ms
  }
  return { store, repo, paused, racer: await Repository.open(paused, { now }), now, skew }
}

/** The error code of a rejected promise, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (e) {
    if (isStrataError(e)) return e.code
    throw e
  }
}

/** Every page of branch `name` equals what `expected` says (page → writer/counter stamp). */
async function expectStamp(repo: Repository, spec: string, page: number, counter: number): Promise<void> {
  expect(Buffer.from(await repo.readPage(spec, page)).equals(Buffer.from(stampedPage(PS, page, 1, counter)))).toBe(true)
}

async function expectSound(store: ObjectStore): Promise<void> {
  expect((await (await Repository.open(store)).verify({ deep: true })).problems).toEqual([])
}

/**
 * The snapshot race: branch `b` gets two commits, so with heads-only retention the first is
 * garbage; gc decides to free it and is held before its first deletion. Then `start` runs the
 * operation that makes the old snapshot reachable again against `seen` (a view of the store
 * gc sweeps); gc goes on once the operation has looked for running sweeps (or, with no
 * handshake, once it is done). Returns the operation's outcome and which of the two came first.
 */
async function raceSweep(
  w: Awaited<ReturnType<typeof world>>,
  start: (old: SnapshotId, seen: PausingStore) => Promise<unknown>,
): Promise<{ old: SnapshotId; result: string; first: string }> {
  await w.repo.createBranch('b')
  const old = (await w.repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })).snapshot
  await w.repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 2)]] })
  const gcHold = w.paused.pauseAt({ match: (c) => c.operation === 'delete' })
  const collecting = w.racer.gc(EAGER)
  await gcHold.reached
  const seen = new PausingStore(w.store)
  const looked = seen.pauseAt({ match: (c) => c.operation === 'list' && c.key === 'sweeps/', when: 'after' })
  const running = outcome(start(old, seen))
  const first = await Promise.race([looked.reached.then(() => 'looked for sweeps'), running.then(() => 'was done')])
  gcHold.release()
  looked.release()
  await collecting
  return { old, result: await running, first }
}

/**
 * Branch `b` with one commit; a create of `x` from it (through `seen`) that has read b's head and
 * is held before writing its ref; then b moves on, so nothing but the create names that head.
 */
async function createHeldAfterSourceMoved(w: Awaited<ReturnType<typeof world>>): Promise<{ seen: PausingStore; beforeRef: Pause; creating: Promise<string> }> {
  await w.repo.createBranch('b')
  await w.repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
  const seen = new PausingStore(w.store)
  const beforeRef = seen.pauseAt({ match: writes(refKey('x')) })
  const creating = outcome((await Repository.open(seen)).createBranch('x', { from: 'b' }))
  await beforeRef.reached
  await w.repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 2)]] })
  return { seen, beforeRef, creating }
}

for (const target of TARGETS) {
  describe(`loss windows (${target.name})`, () => {
    it('delete vs commit: a commit that lands while the delete is held at its removal makes the delete fail', async () => {
      const { store, repo, paused, racer } = await world(target.make)
      await repo.createBranch('b')
      const hold = paused.pauseAt({ match: writes(refKey('b')) })
      const deleting = outcome(racer.deleteBranch('b'))
      await hold.reached
      const c = await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      hold.release()
      const deleted = await deleting
      // Nothing lost first; then the loser's typed error.
      expect((await repo.getBranch('b')).head).toBe(c.snapshot)
      await expectStamp(repo, 'b', 2, 1)
      expect(deleted).toBe('STRATA_CONFLICT')
      await repo.gc(EAGER)
      await expectStamp(repo, 'b', 2, 1)
      await expectSound(store)
    })

    it('expiry vs commit: a commit that lands while gc is held at the removal of the expired ref survives', async () => {
      const { store, repo, paused, racer } = await world(target.make)
      await repo.createBranch('b', { ttlMs: 1 })
      await new Promise((r) => setTimeout(r, 5))
      const hold = paused.pauseAt({ match: writes(refKey('b')) })
      const collecting = racer.gc(EAGER)
      await hold.reached
      const c = await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      hold.release()
      const expired = (await collecting).expiredBranches
      expect((await repo.getBranch('b')).head).toBe(c.snapshot)
      await expectStamp(repo, 'b', 2, 1)
      expect(expired).toEqual([])
      await expectSound(store)
      // Its time is still up: the next gc removes it, and its name is free.
      expect((await repo.gc(EAGER)).expiredBranches).toEqual(['b'])
      expect(await outcome(repo.getBranch('b'))).toBe('STRATA_BRANCH_NOT_FOUND')
      await repo.createBranch('b')
      await expectSound(store)
    })

    it('delete vs rename: they never both succeed, and the branch is where the winner says', async () => {
      const { store, repo, paused, racer } = await world(target.make)
      const b = await repo.createBranch('b')
      await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      const hold = paused.pauseAt({ match: writes(refKey('b')) })
      const deleting = outcome(racer.deleteBranch('b'))
      await hold.reached
      const renamed = await repo.renameBranch('b', 'c')
      hold.release()
      const deleted = await deleting
      expect(renamed.branchId).toBe(b.branchId)
      await expectStamp(repo, 'c', 2, 1)
      expect((await repo.listBranches()).map((x) => x.name)).toEqual(['c', 'main'])
      expect(deleted).toBe('STRATA_CONFLICT')
      await expectSound(store)
    })

    it("rename's last step vs a new branch of the old name: the new branch and its commit survive", async () => {
      const { store, repo, paused, racer } = await world(target.make)
      await repo.createBranch('b')
      // The first rename stops at its last step (removing `b`); running it again finishes it.
      const hold = paused.pauseAt({ match: writes(refKey('b')) })
      const first = outcome(racer.renameBranch('b', 'c'))
      // The fence is the first write to `b`; let it through and stop at the next one.
      await hold.reached
      const last = paused.pauseAt({ match: writes(refKey('b')) })
      hold.release()
      await last.reached
      await repo.renameBranch('b', 'c') // a second run finishes the rename
      const fresh = await repo.createBranch('b')
      const c = await repo.commit('b', { writes: [[3, stampedPage(PS, 3, 1, 7)]] })
      last.release()
      expect(await first).toBe('ok')
      expect((await repo.getBranch('b')).branchId).toBe(fresh.branchId)
      expect((await repo.getBranch('b')).head).toBe(c.snapshot)
      await expectStamp(repo, 'b', 3, 7)
      await expectSound(store)
    })

    it('a deletion leaves a settled tombstone — no branch, a sound store, the name free at once; gc clearing one, stopped before its delete, holds the name a minute', async () => {
      const { store, repo, now, skew } = await world(target.make)
      await repo.createBranch('b')
      await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      await repo.deleteBranch('b')
      // The tombstone stays (one write deletes a branch), and is no branch.
      expect(await store.head(refKey('b'))).not.toBeNull()
      expect((await repo.listBranches()).map((x) => x.name)).toEqual(['main'])
      expect(await outcome(repo.getBranch('b'))).toBe('STRATA_BRANCH_NOT_FOUND')
      expect(await outcome(repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 2)]] }))).toBe('STRATA_BRANCH_NOT_FOUND')
      await expectSound(store)
      // The next branch of the name, in any case, takes the key over at once.
      const again = await repo.createBranch('B')
      await repo.commit('B', { writes: [[3, stampedPage(PS, 3, 1, 3)]] })
      await expectStamp(repo, 'B', 3, 3)
      expect((await repo.getBranch('B')).branchId).toBe(again.branchId)
      // gc clears a tombstone by rewriting it as its own, then deleting the key blindly. Stopped
      // in between (the delete never happens), its young tombstone holds the name: a create waits
      // briefly, then says so.
      await repo.deleteBranch('B')
      await (await Repository.open(new FaultyStore(store, { rules: [{ operation: 'delete', keyPrefix: refKey('b') }] }), { now })).gc(EAGER)
      expect(await store.head(refKey('b'))).not.toBeNull()
      expect(await outcome(repo.createBranch('b'))).toBe('STRATA_CONFLICT')
      await expectSound(store)
      // A minute later the name is free: the next create takes the key over.
      skew(2 * 60_000)
      await repo.createBranch('b')
      await repo.commit('b', { writes: [[4, stampedPage(PS, 4, 1, 4)]] })
      await expectStamp(repo, 'b', 4, 4)
      // And the next gc clears a deleted branch's tombstone.
      await repo.deleteBranch('b')
      await repo.gc(EAGER)
      expect(await store.head(refKey('b'))).toBeNull()
      await expectSound(store)
    })

    for (const op of ['reset', 'branch from a snapshot'] as const) {
      it(`${op} vs gc: the snapshot gc decided to free is either kept or the ${op} fails with a typed error`, async () => {
        const w = await world(target.make)
        const { store, repo } = w
        const { old, result, first } = await raceSweep(w, async (old, seen) => {
          const r = await Repository.open(seen)
          return op === 'reset' ? r.reset('b', old) : r.createBranch('x', { from: old })
        })
        // Whatever the operation reported, every branch reads and the store verifies...
        await expectSound(store)
        await expectStamp(repo, 'b', 2, 2)
        // ...because gc had decided to free the snapshot before the operation began, so the
        // operation must not have published it.
        expect(result, `the operation ${first} before gc went on`).toBe('STRATA_MISSING_OBJECT')
        expect(await store.head(snapshotKey(old))).toBeNull()
      })

      it(`${op} vs gc: a ${op} that publishes before gc's final read of the roots keeps the snapshot`, async () => {
        const { store, repo, paused, racer } = await world(target.make)
        await repo.createBranch('b')
        const old = await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
        await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 2)]] })
        // gc is held right after its listing, when the old snapshot is a candidate.
        const gcHold = paused.pauseAt({ match: (c) => c.operation === 'list' && c.key === '', when: 'after' })
        const collecting = racer.gc(EAGER)
        await gcHold.reached
        if (op === 'reset') await repo.reset('b', old.snapshot)
        else await repo.createBranch('x', { from: old.snapshot })
        gcHold.release()
        await collecting
        await expectStamp(repo, op === 'reset' ? 'b' : 'x', 2, 1)
        await expectSound(store)
      })
    }

    it('branch from a branch vs gc: a source head that moved on and was freed before the new ref landed fails the create, which leaves no branch', async () => {
      const w = await world(target.make)
      const { store, repo, racer } = w
      const { beforeRef, creating } = await createHeldAfterSourceMoved(w)
      // gc frees the head the create read (nothing else keeps it).
      await racer.gc(EAGER)
      beforeRef.release()
      // The ref landed; the listing of sweeps shows the record of that gc's end, so the create
      // checks: the source no longer names its snapshot and the chain is gone: undone.
      expect(await creating).toBe('STRATA_MISSING_OBJECT')
      expect((await repo.listBranches()).map((b) => b.name)).not.toContain('x')
      await expectStamp(repo, 'b', 2, 2)
      await expectSound(store)
    })

    it('branch from a branch: a create whose look for sweeps fails with a store error leaves no branch', async () => {
      const { store, repo } = await world(target.make)
      await repo.createBranch('b')
      const failing = new (class extends InterceptingStore {
        protected intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
          if (call.operation === 'list' && call.key === 'sweeps/') {
            return Promise.reject(new StoreError({ operation: 'list', key: call.key, store: 'test', retryable: false }))
          }
          return forward()
        }
      })(store)
      expect(await outcome((await Repository.open(failing)).createBranch('x', { from: 'b' }))).toBe('STRATA_STORE_ERROR')
      expect((await repo.listBranches()).map((b) => b.name)).not.toContain('x')
      await repo.createBranch('x', { from: 'b' }) // the name is free again at once
      await expectSound(store)
    })

    it('branch from a branch vs gc: a create whose ref lands while gc is held before its final read keeps the head', async () => {
      const w = await world(target.make)
      const { store, repo, paused, racer } = w
      const { seen, beforeRef, creating } = await createHeldAfterSourceMoved(w)
      // gc has written its marker and is held before its read of the intents and roots.
      const intentsRead = paused.pauseAt({ match: (c) => c.operation === 'list' && c.key === 'intents/' })
      const collecting = racer.gc(EAGER)
      await intentsRead.reached
      // The create's ref lands (it is held again at its look for sweeps); then gc reads the roots.
      const lookForSweeps = seen.pauseAt({ match: (c) => c.operation === 'list' && c.key === 'sweeps/' })
      beforeRef.release()
      await lookForSweeps.reached
      intentsRead.release()
      await collecting
      lookForSweeps.release()
      expect(await creating).toBe('ok')
      await expectStamp(repo, 'x', 2, 1)
      await expectSound(store)
    })

    it('branch from a branch vs gc: a gc that listed the refs before the new ref landed and reads the source after it was deleted: kept, or the create fails and leaves no branch', async () => {
      // Why the re-read of the source alone, even at the version first read, cannot replace the
      // look for sweeps: gc's final read of the refs is a listing, then one read per ref, so it
      // can miss the new ref and still read the source after it has moved on.
      const w = await world(target.make)
      const { store, repo, paused, racer } = w
      await repo.createBranch('b')
      await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      // gc's final read of the refs: the listing after its read of the intents.
      let intentsRead = false
      const listedRefs = paused.pauseAt({ match: (c) => c.operation === 'list' && (c.key === 'intents/' ? !(intentsRead = true) : intentsRead && c.key === 'refs/'), when: 'after' })
      const collecting = racer.gc(EAGER)
      await listedRefs.reached
      const seen = new PausingStore(store)
      const looked = seen.pauseAt({ match: (c) => c.operation === 'list' && c.key === 'sweeps/' })
      const creating = outcome((await Repository.open(seen)).createBranch('x', { from: 'b' }))
      await Promise.race([looked.reached, creating])
      // The source goes away; then gc reads the refs it listed (no `x`, no `b`) and sweeps.
      await repo.deleteBranch('b')
      listedRefs.release()
      await collecting
      looked.release()
      const result = await creating
      if (result === 'ok') await expectStamp(repo, 'x', 2, 1)
      else {
        expect(result).toBe('STRATA_MISSING_OBJECT')
        expect((await repo.listBranches()).map((b) => b.name)).not.toContain('x')
      }
      await expectSound(store)
    })

    it('reset vs gc: a reset whose handshake ran before the sweep marker, and whose ref lands after gc read the refs, keeps the snapshot', async () => {
      const { store, repo, paused, racer } = await world(target.make)
      await repo.createBranch('b')
      const old = await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)]] })
      await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 2)]] })
      // The reset has written its intent, found no sweep and checked the snapshot: held before its ref.
      const seen = new PausingStore(store)
      const beforeRef = seen.pauseAt({ match: writes(refKey('b')) })
      const resetting = outcome((await Repository.open(seen)).reset('b', old.snapshot))
      await beforeRef.reached
      // gc writes its marker and is held at its read of the intents, while the intent is still there.
      const intentsRead = paused.pauseAt({ match: (c) => c.operation === 'list' && c.key === 'intents/' })
      const collecting = racer.gc(EAGER)
      await intentsRead.reached
      // The reset publishes and removes its intent; only then does gc read the intents.
      beforeRef.release()
      expect(await resetting).toBe('ok')
      intentsRead.release()
      await collecting
      // gc read the intents before the refs, so it found the intent or the ref the reset wrote.
      await expectStamp(repo, 'b', 2, 1)
      await expectSound(store)
    })

    it("stacking on another store's snapshot vs that store's gc: kept, or the create fails with a typed error", async () => {
      const w = await world(target.make)
      const { store } = w
      const dep = await localStoreFixture()
      cleanups.push(dep.cleanup)
      await Repository.init(dep.store)
      const { result, first } = await raceSweep(w, async (old, seen) => {
        const depRepo = await Repository.open(dep.store, { allowStores: [store.url], openStore: () => seen })
        return depRepo.createBranch('x', { from: `${store.url}#${old}` })
      })
      expect((await (await Repository.open(dep.store, { allowStores: [store.url], openStore: () => store })).verify({ deep: true })).problems).toEqual([])
      await expectSound(store)
      expect(result, `the create ${first} before gc went on`).toBe('STRATA_MISSING_OBJECT')
    })

    for (const op of ['tag', 'hold'] as const) {
      it(`a ${op} of a snapshot gc is about to free: kept, or the ${op} fails with a typed error and is not left behind`, async () => {
        const w = await world(target.make)
        const { result, first, old } = await raceSweep(w, async (old, seen) => {
          const r = await Repository.open(seen)
          return op === 'tag' ? r.createTag('t', old) : r.hold(old)
        })
        await expectSound(w.store)
        expect(result, `the ${op} ${first} before gc went on`).toBe('STRATA_MISSING_OBJECT')
        expect(op === 'tag' ? await w.repo.listTags() : await w.repo.listHolds()).toEqual([])
        expect(await w.store.head(snapshotKey(old))).toBeNull()
      })
    }

    it('long commit vs gc: a commit whose segments gc freed while it ran fails with a typed error instead of publishing', async () => {
      const { store, repo, paused, racer, skew } = await world(target.make)
      const b = await repo.createBranch('b')
      const writer = racer
      // The commit has uploaded its segments and is held before its manifest; meanwhile two
      // minutes pass, and a gc with a one-minute grace period frees the segments.
      const hold = paused.pauseAt({ match: (c) => c.operation === 'put' && c.key.startsWith('snapshots/') })
      const committing = outcome(writer.commit('b', { writes: [[2, stampedPage(PS, 2, 1, 1)], [9, stampedPage(PS, 9, 1, 1)]] }))
      await hold.reached
      skew(2 * 60_000)
      const swept = await repo.gc({ ...EAGER, graceMs: 60_000 })
      expect(swept.deleted.some((d) => d.kind === 'segment')).toBe(true)
      hold.release()
      const committed = await committing
      await expectSound(store)
      expect((await repo.getBranch('b')).head).toBe(b.head)
      expect(committed).toBe('STRATA_MISSING_OBJECT')
    })
  })
}
