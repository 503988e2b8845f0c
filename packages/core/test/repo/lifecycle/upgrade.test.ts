import { createHash } from 'node:crypto'
import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FORMAT_KEY, REFS_PREFIX, TAGS_FOLDED_KEY, TAGS_PREFIX, legacyRefKey, legacyTagKey, refKey, tagKey } from '../../../src/engine.js'
import { encodeStoreMarker } from '../../../src/format/store-marker.js'
import { decodeRefRecord } from '../../../src/format/ref.js'
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

async function refKeys(store: ObjectStore, prefix = REFS_PREFIX): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(prefix)) keys.push(o.key)
  return keys.sort()
}

/** Every tag of `repo`: name → the branch of the fixture whose head it names. */
async function tags(repo: Repository): Promise<Record<string, string>> {
  return Object.fromEntries((await repo.listTags()).map((t) => [t.name, t.snapshot]))
}

/** The tags the fixture was written with, by name → snapshot. */
async function expectedTags(repo: Repository): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [name, branch] of Object.entries(EXPECTED.tags)) out[name] = (await repo.getBranch(branch)).head
  return out
}

/** Thrown by {@link StoppingStore} at its stop point, and for every call after it. */
class Stopped extends Error {}

/** A store that dies at call `stopAt` — before it reaches the store, or after it completed — as a killed process would. */
class StoppingStore extends InterceptingStore {
  calls = 0
  readonly log: StoreCall[] = []
  constructor(
    inner: ObjectStore,
    readonly stopAt: number,
    readonly after: boolean,
  ) {
    super(inner)
  }
  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    this.log.push(call)
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
    expect(r).toMatchObject({ from: '1.0', to: '2.0', upgraded: true, refsMoved: 2, refsRewritten: 2, tagsMoved: 1, oldKeysRemoved: 3, refsUnmarked: 4 })
    expect(await refKeys(store)).toEqual([refKey('Feature/X'), refKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
    // The tag kept at its exact name's key by 1.x is at its case-folded key, and the store is
    // marked as holding no tag at an old key: creating a tag lists nothing.
    expect(legacyTagKey('Release-1')).not.toBe(tagKey('Release-1'))
    expect(await refKeys(store, TAGS_PREFIX)).toEqual([tagKey('Release-1')])
    expect(await store.get(TAGS_FOLDED_KEY)).not.toBeNull()
    const repo = await Repository.open(store)
    expect(await tags(repo)).toEqual(await expectedTags(repo))
    await expect(repo.createTag('RELEASE-1', 'main')).rejects.toMatchObject({ code: 'STRATA_TAG_EXISTS', data: { existing: 'Release-1' } })
    expect((await repo.verify({ deep: true })).ok).toBe(true)
    expect(await exports(repo)).toEqual(EXPECTED.branches)
    expect((await repo.listHolds()).map((h) => h.record)).toEqual([expect.objectContaining({ branch: 'MixedCase' })])
    await expect(repo.deleteBranch('MixedCase')).rejects.toMatchObject({ code: 'STRATA_PROTECTED_BRANCH' })
    await expect(repo.createBranch('feature/x')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS', data: { existing: 'Feature/X' } })
    await repo.createBranch('Fresh', { from: 'Feature/X' })
    expect(await Repository.upgrade(store)).toMatchObject({ from: '2.0', upgraded: false, refsMoved: 0, refsRewritten: 0, tagsMoved: 0, oldKeysRemoved: 0, refsUnmarked: 0 })
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
      // In between, the store opens (read-only or upgraded) with every branch and tag, once each.
      const between = await Repository.open(store)
      expect(await exports(between)).toEqual(EXPECTED.branches)
      expect(await tags(between)).toEqual(await expectedTags(between))
      expect((await between.getTag('Release-1'))?.snapshot).toBe((await expectedTags(between))['Release-1'])
      await Repository.upgrade(store)
      const repo = await Repository.open(store)
      const v = await repo.verify({ deep: true })
      expect(v.problems).toEqual([])
      expect(await exports(repo)).toEqual(EXPECTED.branches)
      expect(await refKeys(store)).toEqual([refKey('Feature/X'), refKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
      expect(await refKeys(store, TAGS_PREFIX)).toEqual([tagKey('Release-1')])
      expect(await tags(repo)).toEqual(await expectedTags(repo))
      // No ref keeps the mark of one written before the switch.
      for (const key of await refKeys(store)) expect(decodeRefRecord(key, (await store.get(key))!.body).upgrading, key).toBe(false)
      await cleanups.pop()!()
    }
  })

  it('a ref the upgrade wrote before the marker switched proves nothing: createBranchIn reads the marker, and refuses the 1.x store', async () => {
    const store = await fixtureCopy()
    // Stopped right after the last write before the switch: every ref is a 2.0 record already.
    const probe = new StoppingStore(store, Infinity, false)
    await Repository.upgrade(probe)
    const all = probe.log
    const switchAt = all.findIndex((c) => c.operation === 'put' && c.key === FORMAT_KEY)
    const stopped = await fixtureCopy()
    await expect(Repository.upgrade(new StoppingStore(stopped, switchAt, false))).rejects.toBeInstanceOf(Stopped)
    const got = decodeRefRecord('refs/main', (await stopped.get('refs/main'))!.body)
    expect(got).toMatchObject({ upgrading: true, provesFormat: false })
    const reads: string[] = []
    const watched = new (class extends InterceptingStore {
      protected intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
        reads.push(`${call.operation} ${call.key}`)
        return forward()
      }
    })(stopped)
    await expect(Repository.createBranchIn(watched, 'new')).rejects.toMatchObject({ code: 'STRATA_UPGRADE_REQUIRED' })
    expect(reads).toContain(`get ${FORMAT_KEY}`)
    // Once upgraded, the same create reads no marker.
    await Repository.upgrade(stopped)
    reads.length = 0
    await Repository.createBranchIn(watched, 'new')
    expect(reads).not.toContain(`get ${FORMAT_KEY}`)
  })

  it('a current-format store with a tag at its exact-name key: upgrade moves it; one left at both keys is listed once and deleted from both', async () => {
    const store = await fixtureCopy()
    await Repository.upgrade(store)
    const repo = await Repository.open(store)
    const expected = await expectedTags(repo)
    await repo.createTag('keep', 'main')
    // Back where tags were kept before their keys were folded (format 2.0 wrote such tags too).
    const body = (await store.get(tagKey('Release-1')))!.body
    await store.put(legacyTagKey('Release-1'), body)
    await store.delete([tagKey('Release-1'), TAGS_FOLDED_KEY])
    expect(await refKeys(store, TAGS_PREFIX)).toEqual([legacyTagKey('Release-1'), tagKey('keep')].sort())
    expect(await Repository.upgrade(store)).toMatchObject({ upgraded: false, tagsMoved: 1, oldKeysRemoved: 1 })
    expect(await refKeys(store, TAGS_PREFIX)).toEqual([tagKey('Release-1'), tagKey('keep')].sort())
    expect(await store.get(TAGS_FOLDED_KEY)).not.toBeNull()
    expect(await tags(repo)).toEqual({ ...expected, keep: (await repo.getBranch('main')).head })
    // At both keys (an upgrade stopped between the copy and the removal): listed once, deleted from both.
    await store.put(legacyTagKey('Release-1'), body)
    expect((await repo.listTags()).map((t) => t.name).sort()).toEqual(['Release-1', 'keep'])
    expect((await repo.deleteTag('Release-1')).snapshot).toBe(expected['Release-1'])
    expect(await repo.getTag('Release-1')).toBeNull()
    expect(await refKeys(store, TAGS_PREFIX)).toEqual([tagKey('keep')])
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
