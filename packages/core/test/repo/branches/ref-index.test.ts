import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '../../../src/index.js'
import { REF_INDEX_KEY, encodeRef, decodeRef, refKey } from '../../../src/engine.js'
import { CountingStore, tempDir, type TempDir } from '@strata/core/testing'
import { syntheticDb, writeDb } from '../../helpers.js'

const PS = 4096
const refGets = (c: CountingStore): number => c.log.filter((x) => x.operation === 'get' && x.key.startsWith('refs/')).length

describe('the ref index', () => {
  let dir: TempDir
  let store: CountingStore
  let repo: Repository

  beforeEach(async () => {
    dir = await tempDir()
    store = new CountingStore(new LocalStore(path.join(dir.path, 'store')))
    repo = await Repository.init(store)
    await repo.importDatabase(await writeDb(dir.path, 'db.sqlite', syntheticDb(PS, 8)))
    for (let i = 0; i < 40; i++) await repo.createBranch(`b${i}`)
  })
  afterEach(async () => {
    await dir.cleanup()
  })

  it('is written by the first pass that reads every ref, and spares the next one every ref read', async () => {
    expect(await store.get(REF_INDEX_KEY)).toBeNull()
    store.reset()
    const first = await repo.listBranches()
    expect(refGets(store)).toBe(41)
    expect(await store.get(REF_INDEX_KEY)).not.toBeNull()
    store.reset()
    expect(await repo.listBranches()).toEqual(first)
    expect(refGets(store)).toBe(0)
  })

  it('never serves an entry whose ref changed, went away or is new: the listing decides', async () => {
    await repo.listBranches()
    // Move b1 behind the index's back, with the same ref bytes but for its head.
    const b1 = decodeRef(refKey('b1'), (await store.get(refKey('b1')))!.body)
    const other = (await repo.getBranch('main')).head
    await repo.commit('b2', { writes: [[2, new Uint8Array(PS).fill(7)]] })
    const b2head = (await repo.getBranch('b2')).head
    await store.put(refKey('b1'), encodeRef({ ...b1, head: b2head, updatedAt: new Date().toISOString() }))
    await repo.deleteBranch('b3')
    await repo.createBranch('late')
    store.reset()
    const listed = await repo.listBranches()
    expect(refGets(store)).toBe(4) // b1, b2, late, and b3's tombstone (its version changed); b3 itself is not listed
    const by = Object.fromEntries(listed.map((b) => [b.name, b.head]))
    expect(by.b1).toBe(b2head)
    expect(by.b2).toBe(b2head)
    expect(by.late).toBe(other)
    expect('b3' in by).toBe(false)
    // gc, stats and verify see the same refs as a pass that reads each one.
    expect((await repo.verify()).checked.refs).toBe(listed.length)
    expect((await repo.verify({ deep: true })).checked.refs).toBe(listed.length)
  })

  it('a damaged index costs only the reads, and is replaced', async () => {
    await store.put(REF_INDEX_KEY, new Uint8Array([1, 2, 3]))
    store.reset()
    const listed = await repo.listBranches()
    expect(listed).toHaveLength(41)
    expect(refGets(store)).toBe(41)
    store.reset()
    expect(await repo.listBranches()).toEqual(listed)
    expect(refGets(store)).toBe(0)
  })
})
