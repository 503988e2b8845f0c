import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, type LocalStoreSync } from '../../src/index.js'
import { tempDir, type TempDir } from '@strata/core/testing'
import { syntheticDb, testPage, writeDb } from '../helpers.js'

const PS = 4096

// The fsyncs each operation makes on the local store, counted through `onSync`: the table
// "What each operation costs" in packages/core/README.md states these numbers.
describe('LocalStore: durable writes per operation', () => {
  let dir: TempDir
  let syncs: LocalStoreSync[]
  let store: LocalStore
  let repo: Repository

  /** The fsyncs `run` makes, once deferred directory syncs were flushed, as `file <dir>` / `directory <dir>` (dirs relative to the root). */
  async function syncsOf(run: () => Promise<unknown>): Promise<string[]> {
    await store.flush()
    syncs.length = 0
    await run()
    await store.flush()
    return syncs.map((s) => `${s.kind} ${s.kind === 'file' ? path.relative(store.root, path.dirname(s.path)) : path.relative(store.root, s.path)}`)
  }

  beforeEach(async () => {
    dir = await tempDir()
    syncs = []
    store = new LocalStore(path.join(dir.path, 'store'), { onSync: (e) => syncs.push(e) })
    repo = await Repository.init(store, { segmentBytes: 4 * PS })
    await repo.importDatabase(await writeDb(dir.path, 'db.sqlite', syntheticDb(PS, 32)))
    await repo.createBranch('warm') // the directories every later write lands in exist
    await repo.commit('warm', { writes: [[2, testPage(PS, 9)]] })
  })
  afterEach(async () => {
    await dir.cleanup()
  })

  it('branch create: the ref alone (from a branch, the ref is its own intent: see gc.ts)', async () => {
    expect(await syncsOf(() => repo.createBranch('b'))).toEqual(['file .tmp', 'directory refs'])
  })

  it('branch delete: the tombstone written by compare-and-swap, then an unlink (see the README for what that means after a crash)', async () => {
    await repo.createBranch('b')
    expect(await syncsOf(() => repo.deleteBranch('b'))).toEqual(['file .tmp', 'directory refs'])
  })

  it('a commit of n segments: n + 2 file fsyncs and one fsync per directory, segments and manifest made durable before the ref', async () => {
    await repo.createBranch('b')
    const one = await syncsOf(() => repo.commit('b', { writes: [[3, testPage(PS, 3)]] }))
    expect(one.filter((s) => s.startsWith('file'))).toHaveLength(3)
    expect(one.filter((s) => s.startsWith('directory')).sort()).toEqual(['directory refs', 'directory segments', 'directory snapshots'])
    // Twelve pages in segments of four: three segments, still three directory fsyncs.
    const writes = Array.from({ length: 12 }, (_, i) => [4 + i, testPage(PS, 40 + i)] as [number, Uint8Array])
    const three = await syncsOf(() => repo.commit('b', { writes }))
    expect(three.filter((s) => s.startsWith('file'))).toHaveLength(5)
    expect(three.filter((s) => s.startsWith('directory')).sort()).toEqual(['directory refs', 'directory segments', 'directory snapshots'])
    // Crash safety: the ref's directory is synced last, after everything it points at.
    expect(three.at(-1)).toBe('directory refs')
    expect(three.indexOf('directory segments')).toBeLessThan(three.lastIndexOf('file .tmp'))
    expect(three.indexOf('directory snapshots')).toBeLessThan(three.lastIndexOf('file .tmp'))
  })

  it('a create, commit, delete cycle: 10 fsyncs (8 before the tombstone of delete)', async () => {
    const all = await syncsOf(async () => {
      await repo.createBranch('c')
      await repo.commit('c', { writes: [[5, testPage(PS, 5)]] })
      await repo.deleteBranch('c')
    })
    expect(all).toHaveLength(10)
  })

  it('deferred directory syncs happen by themselves soon after a burst, and a pruned directory is no error', async () => {
    await store.put('segments/x', new Uint8Array([1]), { ifNoneMatch: '*' })
    expect(syncs.at(-1)).toEqual({ kind: 'file', path: expect.any(String) })
    await new Promise((r) => setTimeout(r, 200))
    expect(syncs.at(-1)).toEqual({ kind: 'directory', path: path.join(store.root, 'segments') })
    await store.put('snapshots/gone/y', new Uint8Array([1]), { ifNoneMatch: '*' })
    await store.delete(['snapshots/gone/y'])
    await expect(store.flush()).resolves.toBeUndefined()
  })
})
