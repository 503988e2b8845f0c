import { createHash } from 'node:crypto'
import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FORMAT_KEY, REFS_PREFIX, legacyRefKey, refKey } from '../../../src/engine.js'
import { encodeStoreMarker } from '../../../src/format/store-marker.js'
import { Repository } from '../../../src/repo/repository.js'
import { LocalStore } from '../../../src/store/local-store.js'
import type { ObjectStore } from '../../../src/store/object-store.js'
import { InterceptingStore } from '../../../src/testing/intercepting-store.js'
import type { StoreCall } from '../../../src/testing/store-call.js'
import { scratch } from '../../helpers.js'

const FIXTURE = join(import.meta.dirname, '../../fixtures/format-1.0-store')
const EXPECTED = JSON.parse(await readFile(join(import.meta.dirname, '../../fixtures/format-1.0-store.json'), 'utf8')) as {
  branches: Record<string, string>
  tags: Record<string, string>
  heldBranches: string[]
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** A fresh copy of the committed format 1.0 store. */
async function fixtureCopy(): Promise<LocalStore> {
  const s = await scratch()
  cleanups.push(s.cleanup)
  await cp(FIXTURE, join(s.dir, 'store'), { recursive: true })
  return new LocalStore(join(s.dir, 'store'))
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Every branch of `repo` and the SHA-256 of its database. */
async function exports(repo: Repository): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const b of await repo.listBranches()) out[b.name] = sha256(await repo.readDatabase(b.name))
  return out
}

async function refKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(REFS_PREFIX)) keys.push(o.key)
  return keys.sort()
}

/** Thrown by {@link StoppingStore} at its stop point, and for every call after it. */
class Stopped extends Error {}

/** A store that dies at call `stopAt` — before it reaches the store, or after it completed — as a killed process would. */
class StoppingStore extends InterceptingStore {
  calls = 0
  constructor(
    inner: ObjectStore,
    readonly stopAt: number,
    readonly after: boolean,
  ) {
    super(inner)
  }
  protected async intercept<T>(_call: StoreCall, forward: () => Promise<T>): Promise<T> {
    const n = this.calls++
    if (n < this.stopAt) return forward()
    if (n === this.stopAt && this.after) await forward()
    throw new Stopped('stopped')
  }
}

describe('a format 1.0 store', () => {
  it('opens read-only with every branch, tag and hold readable, and refuses writes with UpgradeRequiredError', async () => {
    const store = await fixtureCopy()
    const repo = await Repository.open(store)
    expect(await exports(repo)).toEqual(EXPECTED.branches)
    expect(Object.fromEntries((await repo.listTags()).map((t) => [t.name, t.snapshot]))).toEqual({ 'Release-1': (await repo.getBranch(EXPECTED.tags['Release-1']!)).head })
    expect((await repo.getBranch('Feature/X')).sourceBranch).toBe('main')
    expect((await repo.verify({ deep: true })).ok).toBe(true)
    await expect(repo.createBranch('new')).rejects.toMatchObject({ code: 'STRATA_UPGRADE_REQUIRED' })
    await expect(repo.deleteBranch('lower')).rejects.toMatchObject({ code: 'STRATA_UPGRADE_REQUIRED' })
    expect(await refKeys(store)).toEqual([legacyRefKey('Feature/X'), legacyRefKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
  })

  it('upgrades in place: refs at case-folded keys, the same branches byte for byte, writable, and a rerun changes nothing', async () => {
    const store = await fixtureCopy()
    const r = await Repository.upgrade(store)
    expect(r).toMatchObject({ from: '1.0', to: '2.0', upgraded: true, refsMoved: 2, refsRewritten: 2, oldKeysRemoved: 2 })
    expect(await refKeys(store)).toEqual([refKey('Feature/X'), refKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
    const repo = await Repository.open(store)
    expect((await repo.verify({ deep: true })).ok).toBe(true)
    expect(await exports(repo)).toEqual(EXPECTED.branches)
    expect((await repo.listHolds()).map((h) => h.record)).toEqual([expect.objectContaining({ branch: 'MixedCase' })])
    await expect(repo.deleteBranch('MixedCase')).rejects.toMatchObject({ code: 'STRATA_PROTECTED_BRANCH' })
    await expect(repo.createBranch('feature/x')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS', data: { existing: 'Feature/X' } })
    await repo.createBranch('Fresh', { from: 'Feature/X' })
    expect(await Repository.upgrade(store)).toMatchObject({ from: '2.0', upgraded: false, refsMoved: 0, refsRewritten: 0, oldKeysRemoved: 0 })
    expect((await repo.getBranch('Fresh')).head).toBe((await repo.getBranch('Feature/X')).head)
  })

  it('an upgrade stopped at any store call, then run again, leaves a store verify --deep accepts with every branch byte-identical', async () => {
    const probe = new StoppingStore(await fixtureCopy(), Infinity, false)
    await Repository.upgrade(probe)
    const calls = probe.calls
    expect(calls).toBeGreaterThan(10)
    const trials = Math.max(50, 2 * calls)
    for (let t = 0; t < trials; t++) {
      const store = await fixtureCopy()
      const stopping = new StoppingStore(store, t % calls, t >= calls)
      await expect(Repository.upgrade(stopping)).rejects.toBeInstanceOf(Stopped)
      // In between, the store opens (read-only or upgraded) with every branch.
      expect(await exports(await Repository.open(store))).toEqual(EXPECTED.branches)
      await Repository.upgrade(store)
      const repo = await Repository.open(store)
      const v = await repo.verify({ deep: true })
      expect(v.problems).toEqual([])
      expect(await exports(repo)).toEqual(EXPECTED.branches)
      expect(await refKeys(store)).toEqual([refKey('Feature/X'), refKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
      await cleanups.pop()!()
    }
  })

  it('a store of a newer format major is refused with UnsupportedFormatError', async () => {
    const store = await fixtureCopy()
    const marker = encodeStoreMarker({ storeId: '00000000-0000-4000-8000-000000000000', createdAt: new Date(0).toISOString() })
    // Re-stamp the marker's version as 3.0: MessagePack `v: [2, 0]` → `v: [3, 0]`.
    const at = Buffer.from(marker).indexOf(Buffer.from([0xa1, 0x76, 0x92, 0x02, 0x00]))
    expect(at).toBeGreaterThan(0)
    marker[at + 3] = 0x03
    await store.put(FORMAT_KEY, marker)
    await expect(Repository.open(store)).rejects.toMatchObject({ code: 'STRATA_UNSUPPORTED_FORMAT', data: { found: '3.0' } })
    await expect(Repository.upgrade(store)).rejects.toMatchObject({ code: 'STRATA_UNSUPPORTED_FORMAT' })
  })
})
