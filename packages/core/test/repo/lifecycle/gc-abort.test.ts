import { afterEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError, type ObjectStore } from '../../../src/index.js'
import { InterceptingStore, type StoreCall } from '../../../src/testing/index.js'
import { scratch, syntheticDb, testPage, writeDb } from '../../helpers.js'
import { EAGER, keysOf } from './lifecycle-helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** Aborts `controller` when the first call matching `when` reaches the store (after it ran). */
class AbortAt extends InterceptingStore {
  readonly calls: StoreCall[] = []
  constructor(inner: ObjectStore, readonly controller: AbortController, readonly when: (c: StoreCall) => boolean) {
    super(inner)
  }
  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    this.calls.push(call)
    const out = await forward()
    if (this.when(call)) this.controller.abort()
    return out
  }
}

/** A store with garbage: a deleted branch's commits. */
async function withGarbage() {
  const s = await scratch()
  cleanups.push(s.cleanup)
  const local = new LocalStore(`${s.dir}/store`)
  const repo = await Repository.init(local, { segmentBytes: 4 * PS })
  await repo.importDatabase(await writeDb(s.dir, 'base.db', syntheticDb(PS, 16)))
  await repo.createBranch('junk')
  for (let i = 0; i < 3; i++) await repo.commit('junk', { writes: [[2 + i, testPage(PS, 9 + i)]] })
  await repo.deleteBranch('junk')
  return { local, expected: await repo.readDatabase('main') }
}

describe('gc and its AbortSignal', () => {
  for (const [phase, when] of [
    ['listing', (c: StoreCall) => c.operation === 'list'],
    ['marking', (c: StoreCall) => c.operation === 'get' && c.key.startsWith('snapshots/')],
    ['sweep', (c: StoreCall) => c.operation === 'delete' && !c.key.startsWith('refs/')],
  ] as const) {
    it(`stops in the ${phase} with STRATA_ABORTED, between store calls, leaving a sound store`, async () => {
      const { local, expected } = await withGarbage()
      const before = await keysOf(local)
      const controller = new AbortController()
      const store = new AbortAt(local, controller, when)
      const repo = await Repository.open(store)
      const e = await repo.gc({ ...EAGER, signal: controller.signal }).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_ABORTED'), String(e)).toBe(true)
      // (The sweep marker's removal is not a deletion of the sweep, nor is clearing the deleted
      // branch's tombstone, which gc does before it marks.)
      const deletes = store.calls.filter((c) => c.operation === 'delete' && !c.key.startsWith('sweeps/') && !c.key.startsWith('refs/'))
      // Before the sweep nothing is deleted; in it, the batch in flight finishes and no other starts.
      expect(deletes.length).toBe(phase === 'sweep' ? 1 : 0)
      const notRefs = (keys: string[]): string[] => keys.filter((k) => !k.startsWith('refs/'))
      const after = await keysOf(local)
      if (phase !== 'sweep') expect(notRefs(after)).toEqual(notRefs(before))
      const fresh = await Repository.open(local)
      expect(Buffer.from(await fresh.readDatabase('main')).equals(Buffer.from(expected))).toBe(true)
      expect((await fresh.verify({ deep: true })).problems).toEqual([])
      // A later gc finishes the job.
      await fresh.gc(EAGER)
      expect((await fresh.gc({ ...EAGER, dryRun: true })).deleted).toEqual([])
    })
  }
})
