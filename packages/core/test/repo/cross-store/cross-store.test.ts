import { cp, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, StoreError, isStrataError, type ObjectStore, type RepositoryOptions, type SnapshotId } from '../../../src/index.js'
import { baseStoreKey, pinKey, segmentKey, snapshotKey } from '../../../src/engine.js'
import { CountingStore, FaultyStore } from '../../../src/testing/index.js'
import { sameBytes, scratch, syntheticDb, testPage, writeDb } from '../../helpers.js'

// Two (or three) repositories in local directories: a base and stores that stack on it. The same
// story against the S3 test server as base is in the root test/cross-store suite.

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function world(pages = 24) {
  const s = await scratch()
  cleanups.push(s.cleanup)
  const baseStore = new LocalStore(join(s.dir, 'base'))
  const base = await Repository.init(baseStore, { segmentBytes: 4 * PS })
  const db = syntheticDb(PS, pages)
  const imported = await base.importDatabase(await writeDb(s.dir, 'base.db', db), { message: 'base' })
  const localStore = new LocalStore(join(s.dir, 'local'))
  await Repository.init(localStore)
  const opened: string[] = []
  /** Open the local repository with `allow` on its allowlist; `wrap` sees every store opened through a fallback. */
  const local = (allow: string[] = [baseStore.url], wrap: (s: ObjectStore) => ObjectStore = (x) => x, extra: RepositoryOptions = {}) =>
    Repository.open(localStore, {
      allowStores: allow,
      openStore: (url) => {
        opened.push(url)
        return wrap(new LocalStore(fileURLToPath(url)))
      },
      ...extra,
    })
  return { dir: s.dir, baseStore, base, db, imported, localStore, local, opened, from: `${baseStore.url}#main` }
}

function code(e: unknown): string | undefined {
  return isStrataError(e) ? e.code : undefined
}

describe('stacking on another store', () => {
  it('creates a branch on a base in another store in O(1), pinned, reading through to the base', async () => {
    const w = await world()
    const counting = new CountingStore(w.baseStore)
    const repo = await w.local([w.baseStore.url], () => counting)
    const b = await repo.createBranch('feature', { from: w.from })

    expect(b.head).toBe(b.base)
    expect(b.crossStore).toMatchObject({ store: { url: w.baseStore.url, id: w.base.storeId }, snapshot: w.imported.snapshot, branch: 'main', pinned: true, unpinnedReason: null })
    expect(b.sourceBranch).toBe(w.from)
    // The base store got one write (the pin) and no page was read from it.
    expect(counting.keysWritten).toEqual([pinKey(repo.storeId, w.imported.snapshot)])
    expect(counting.log.filter((c) => c.operation === 'get' && c.key.startsWith('segments/'))).toEqual([])
    // The stub owns nothing and falls back to the base snapshot, recording its store's identity.
    const stub = await repo.snapshot(b.head)
    expect(stub.pages.pageNos.length).toBe(0)
    expect(stub.fallback).toEqual({ snapshot: w.imported.snapshot, store: { url: w.baseStore.url, id: w.base.storeId } })
    expect(stub.checksum).toEqual((await w.base.snapshot(w.imported.snapshot)).checksum)
    expect(await w.localStore.head(baseStoreKey(w.base.storeId))).not.toBeNull()

    expect(sameBytes(await repo.readDatabase('feature'), w.db, PS)).toBe(true)
    // A second branch on the same base shares the stub, whether the base is named by branch or snapshot prefix.
    expect((await repo.createBranch('other', { from: w.from })).head).toBe(b.head)
    const bySnapshot = await repo.createBranch('pinned-version', { from: `${w.baseStore.url}#${w.imported.snapshot.slice(0, 8)}` })
    expect(bySnapshot).toMatchObject({ head: b.head, sourceBranch: null, crossStore: { branch: null, snapshot: w.imported.snapshot } })
    const pins = await w.base.listPins()
    expect(pins).toEqual([expect.objectContaining({ snapshot: w.imported.snapshot, dependentStore: { url: w.localStore.url, id: repo.storeId }, snapshotExists: true })])
    await repo.close()
  })

  it('commits stack locally; export and show cross into the base; the base is left untouched', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const before = await listKeys(w.baseStore)
    const grown = Array.from({ length: 6 }, (_, i) => [25 + i, testPage(PS, 0xb0 + i)] as const)
    const c = await repo.commit('feature', { writes: [[3, testPage(PS, 0xaa)], ...grown] })
    expect(c).toMatchObject({ ownPages: 7, pagesUploaded: 7, pageCount: 30 })
    expect(await listKeys(w.baseStore)).toEqual(before)

    const expected = new Uint8Array(30 * PS)
    expected.set(w.db)
    expected.set(testPage(PS, 0xaa), 2 * PS)
    for (const [p, page] of grown) expected.set(page, (p - 1) * PS)
    const out = join(w.dir, 'out.db')
    await repo.export('feature', out)
    expect(sameBytes(new Uint8Array(await readFile(out)), expected, PS)).toBe(true)

    const show = await repo.show('feature')
    expect(show.chain.map((l) => l.store)).toEqual([w.localStore.url, w.localStore.url, w.baseStore.url])
    expect(show.crossStore).toEqual([
      { from: { snapshot: show.chain[1]!.id, store: w.localStore.url }, store: { url: w.baseStore.url, id: w.base.storeId }, recordedUrl: w.baseStore.url, snapshot: w.imported.snapshot, pinned: true },
    ])
    // verify and stats list the dependency; the base store's own stats are unaffected.
    const dep = { storeId: w.base.storeId, url: w.baseStore.url, recordedUrls: [w.baseStore.url], status: 'ok', error: null, snapshots: [{ snapshot: w.imported.snapshot, dependents: [show.chain[1]!.id], pinned: true }] }
    const verified = await repo.verify()
    expect(verified).toMatchObject({ ok: true, crossStore: [dep] })
    expect((await repo.stats()).crossStore).toEqual([dep])
    expect((await w.base.stats()).crossStore).toEqual([])
    await repo.close()
  }, 30_000)

  it('materialize makes the branch entirely local: it reads with the base gone', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    await repo.commit('feature', { writes: [[2, testPage(PS, 0x42)]] })
    const expected = await repo.readDatabase('feature')
    await repo.materialize('feature')
    await repo.close()
    await rm(w.baseStore.root, { recursive: true })

    const isolated = await Repository.open(w.localStore)
    const show = await isolated.show('feature')
    expect(show.chain).toHaveLength(1)
    expect(show.crossStore).toEqual([])
    expect(sameBytes(await isolated.readDatabase('feature'), expected, PS)).toBe(true)
  })

  it('deleting the branch and pruning pins lets gc in the base free the base snapshot', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    // The base moves on to a standalone snapshot: only the pin keeps the old one alive.
    await w.base.materialize('main')
    const retention = { keepLast: 1, keepWithinMs: 0 }
    const gc1 = await w.base.gc({ graceMs: 0, retention })
    expect(gc1.deleted.map((d) => d.key)).not.toContain(snapshotKey(w.imported.snapshot))
    expect(sameBytes(await repo.readDatabase('feature'), w.db, PS)).toBe(true)

    // Still needed: prune keeps it.
    expect(await repo.prunePins({ graceMs: 0 })).toMatchObject({ removed: [], kept: [{ snapshot: w.imported.snapshot, reason: 'needed' }] })
    await repo.deleteBranch('feature')
    await repo.gc({ graceMs: 0, retention })
    expect((await repo.crossStoreDependencies()).map((d) => d.snapshots)).toEqual([[]])
    const pruned = await repo.prunePins({ graceMs: 0 })
    expect(pruned.removed).toEqual([{ storeId: w.base.storeId, url: w.baseStore.url, snapshot: w.imported.snapshot, key: pinKey(repo.storeId, w.imported.snapshot) }])
    expect(await w.base.listPins()).toEqual([])
    const gc2 = await w.base.gc({ graceMs: 0, retention })
    expect(gc2.deleted.map((d) => d.key)).toContain(snapshotKey(w.imported.snapshot))
    await repo.close()
  })

  it('without a pin, gc in the base frees the snapshot and reading the branch is the same hard error as in one store', async () => {
    const w = await world()
    const repo = await w.local()
    const b = await repo.createBranch('feature', { from: w.from, pin: false })
    expect(b.crossStore).toMatchObject({ pinned: false, unpinnedReason: expect.stringContaining('pin: false') })
    expect((await repo.show('feature')).crossStore[0]!.pinned).toBe(false)
    expect((await repo.crossStoreDependencies())[0]).toMatchObject({ status: 'ok', snapshots: [{ snapshot: w.imported.snapshot, pinned: false }] })
    await w.base.materialize('main')
    await w.base.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } })
    await repo.close()

    const again = await w.local()
    const e = await again.readDatabase('feature').catch((x: unknown) => x)
    expect(code(e)).toBe('STRATA_MISSING_OBJECT')
    expect((e as Error).message).toContain(`${w.baseStore.url}/${snapshotKey(w.imported.snapshot)}`)
    await again.close()
  })

  it('a missing base segment or page is MissingObjectError / MissingPageError, as inside one store', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const seg = (await w.base.snapshot(w.imported.snapshot)).segments[1]!.id
    await w.baseStore.delete([segmentKey(seg)])
    const e = await repo.readDatabase('feature').catch((x: unknown) => x)
    expect(code(e)).toBe('STRATA_MISSING_OBJECT')
    expect((e as Error).message).toContain(segmentKey(seg))
    // The same damage seen from inside the base store.
    expect(code(await w.base.readDatabase('main').catch((x: unknown) => x))).toBe('STRATA_MISSING_OBJECT')
    await repo.close()
  })

  it('refuses a store that is not on the allowlist before opening it, naming the URL and snapshot', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const stub = (await repo.getBranch('feature')).head
    await repo.close()
    w.opened.length = 0

    for (const allow of [[], [join(w.dir, 'elsewhere')]]) {
      const strict = await w.local(allow)
      const e = await strict.readDatabase('feature').catch((x: unknown) => x)
      expect(code(e)).toBe('STRATA_STORE_NOT_ALLOWED')
      expect(e).toMatchObject({ data: { url: w.baseStore.url, snapshot: w.imported.snapshot } })
      expect((e as Error).message).toContain(w.baseStore.url)
      const e2 = await strict.createBranch('again', { from: w.from }).catch((x: unknown) => x)
      expect(code(e2)).toBe('STRATA_STORE_NOT_ALLOWED')
      expect(await strict.listBranches().then((bs) => bs.map((b) => b.name))).toEqual(['feature'])
      await strict.close()
    }
    expect(w.opened).toEqual([])
    // No allowlist at all: the same refusal, from the chain loader.
    const none = await Repository.open(w.localStore)
    expect(await none.resolve(stub).catch(code)).toBe('STRATA_STORE_NOT_ALLOWED')
  })

  it('an allowed store that is unreachable or holds no repository is a hard error naming the URL and snapshot', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    await repo.close()
    const down = await w.local([w.baseStore.url], (s) => new FaultyStore(s, { rules: [{ operation: '*', times: Infinity }] }))
    const e = await down.readDatabase('feature').catch((x: unknown) => x)
    expect(e).toMatchObject({ code: 'STRATA_STORE_NOT_ALLOWED', data: { url: w.baseStore.url, snapshot: w.imported.snapshot } })
    expect((e as Error).message).toMatch(/unreachable/)
    await down.close()

    await rm(w.baseStore.root, { recursive: true })
    const gone = await w.local()
    expect(await gone.readDatabase('feature').catch((x: unknown) => (x as Error).message)).toMatch(/holds no Strata repository/)
    await gone.close()
  })

  it('detects a swapped store: same URL, another identity', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    await repo.close()
    await rm(w.baseStore.root, { recursive: true })
    const impostor = await Repository.init(new LocalStore(w.baseStore.root), { segmentBytes: 4 * PS })
    await impostor.importDatabase(await writeDb(w.dir, 'other.db', syntheticDb(PS, 24, (p) => p + 100)))

    const again = await w.local()
    const e = await again.readDatabase('feature').catch((x: unknown) => x)
    expect(e).toMatchObject({ code: 'STRATA_STORE_NOT_ALLOWED', data: { url: w.baseStore.url } })
    expect((e as Error).message).toMatch(/moved or swapped/)
    expect((await again.crossStoreDependencies())[0]).toMatchObject({ status: 'swapped' })
    await again.close()
  })

  it('a read-only base leaves the dependency unpinned, and show says so', async () => {
    const w = await world()
    const denied = (s: ObjectStore) =>
      new FaultyStore(s, {
        rules: [{ operation: 'put', times: Infinity, error: (call) => new StoreError({ operation: 'put', key: call.key, store: s.url, retryable: false }, { cause: Object.assign(new Error('permission denied'), { code: 'EACCES' }) }) }],
      })
    const repo = await w.local([w.baseStore.url], denied)
    const b = await repo.createBranch('feature', { from: w.from })
    expect(b.crossStore).toMatchObject({ pinned: false, unpinnedReason: expect.stringContaining('refused the write') })
    expect(await w.base.listPins()).toEqual([])
    expect((await repo.show('feature')).crossStore).toMatchObject([{ pinned: false }])
    expect(sameBytes(await repo.readDatabase('feature'), w.db, PS)).toBe(true)
    await repo.close()
  })

  it('repoint moves a base after checking identity and checksums; history follows without rewriting manifests', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const c1 = await repo.commit('feature', { writes: [[4, testPage(PS, 0x44)]] })
    const c2 = await repo.commit('feature', { writes: [[5, testPage(PS, 0x55)]] })
    const moved = join(w.dir, 'moved')
    await cp(w.baseStore.root, moved, { recursive: true })
    const movedUrl = new LocalStore(moved).url
    await repo.close()

    // The new location must be allowed.
    const notYet = await w.local([w.baseStore.url])
    expect(await notYet.repoint(w.baseStore.url, movedUrl).catch(code)).toBe('STRATA_STORE_NOT_ALLOWED')
    await notYet.close()

    const both = await w.local([w.baseStore.url, movedUrl])
    // Another store at the new URL is refused.
    const otherDir = join(w.dir, 'other')
    await Repository.init(new LocalStore(otherDir))
    const otherUrl = new LocalStore(otherDir).url
    const withOther = await w.local([w.baseStore.url, otherUrl])
    expect(await withOther.repoint(w.baseStore.url, otherUrl).catch((e: Error) => e.message)).toMatch(/another store, not a move/)
    await withOther.close()
    // A copy missing a segment is refused, and nothing changes.
    const seg = (await w.base.snapshot(w.imported.snapshot)).segments[0]!.id
    await rm(join(moved, 'segments', seg))
    expect(await both.repoint(w.baseStore.url, movedUrl).catch(code)).toBe('STRATA_MISSING_OBJECT')
    await cp(join(w.baseStore.root, 'segments', seg), join(moved, 'segments', seg))

    const r = await both.repoint(w.baseStore.url, movedUrl)
    expect(r).toMatchObject({ storeId: w.base.storeId, from: w.baseStore.url, to: movedUrl, snapshots: [w.imported.snapshot] })
    expect(r.segments).toBeGreaterThan(0)
    await both.close()
    await rm(w.baseStore.root, { recursive: true })

    const after = await w.local([movedUrl])
    expect((await after.show('feature')).crossStore).toMatchObject([{ store: { url: movedUrl }, recordedUrl: w.baseStore.url, pinned: true }])
    // Both commits of history still read, through the one moved record.
    for (const s of [c1.snapshot, c2.snapshot]) expect((await after.readDatabase(s)).length).toBe(24 * PS)
    expect((await after.readPage('feature', 4))[0]).toBe(0x44)
    expect(await after.repoint(w.baseStore.url, movedUrl).catch(code)).toBe('STRATA_INVALID_ARGUMENT')
    await after.close()
  })

  it('a chain may cross several stores, each of which must be allowed', async () => {
    const w = await world()
    const mid = await w.local()
    await mid.createBranch('team', { from: w.from })
    await mid.commit('team', { writes: [[1, (await mid.readPage('team', 1)).slice()], [7, testPage(PS, 0x77)]] })
    const topDir = join(w.dir, 'top')
    await mkdir(topDir)
    const top = await Repository.init(new LocalStore(topDir), {
      allowStores: [w.localStore.url, w.baseStore.url],
      openStore: (url) => new LocalStore(fileURLToPath(url)),
    })
    await top.createBranch('mine', { from: `${w.localStore.url}#team` })
    await top.commit('mine', { writes: [[8, testPage(PS, 0x88)]] })
    const bytes = await top.readDatabase('mine')
    expect(bytes[6 * PS]).toBe(0x77)
    expect(bytes[7 * PS]).toBe(0x88)
    expect(bytes[10 * PS + 5]).toBe(w.db[10 * PS + 5])
    const show = await top.show('mine')
    expect(show.crossStore.map((l) => l.store.url)).toEqual([w.localStore.url, w.baseStore.url])
    // The middle store pinned the base for itself; the top store pinned the middle.
    expect(show.crossStore.map((l) => l.pinned)).toEqual([true, true])

    const onlyMid = await Repository.open(new LocalStore(topDir), { allowStores: [w.localStore.url], openStore: (url) => new LocalStore(fileURLToPath(url)) })
    expect(await onlyMid.readDatabase('mine').catch((e: unknown) => (e as { data?: unknown }).data)).toMatchObject({ url: w.baseStore.url })
    await Promise.all([mid.close(), top.close(), onlyMid.close()])
  })

  it('a spec naming this very store resolves locally and writes no stub', async () => {
    const w = await world()
    const self = await Repository.open(w.baseStore, { allowStores: [w.baseStore.url] })
    const b = await self.createBranch('loop', { from: `${w.baseStore.url}#main` })
    expect(b.head).toBe(w.imported.snapshot)
    expect(b.crossStore).toBeUndefined()
  })

  it('pins can be listed and removed in the base store', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    expect(await w.base.removePins({}).catch(code)).toBe('STRATA_INVALID_ARGUMENT')
    expect(await w.base.removePins({ store: 'not-a-store' })).toEqual([])
    const removed = await w.base.removePins({ store: w.localStore.url, snapshot: w.imported.snapshot.slice(0, 8) })
    expect(removed.map((p) => p.key)).toEqual([pinKey(repo.storeId, w.imported.snapshot as SnapshotId)])
    expect(await w.base.listPins()).toEqual([])
    await repo.close()
  })
})

async function listKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list('')) keys.push(o.key)
  return keys
}
