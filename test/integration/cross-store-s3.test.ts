import Database from 'better-sqlite3'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError, probeStore, type ObjectStore } from '@strata/core'
import { locatePage, pinKey, segmentKey, snapshotKey } from '@strata/core/engine'
import { CountingStore, tempDir, type TempDir } from '@strata/core/testing'
import { S3Store } from '@strata/s3'
import { S3TestProxy, localS3TestTarget, newS3TestLocation, startTestS3, type S3TestLocation, type S3TestTarget } from '@strata/s3/testing'
import { integrityCheck, openBranch } from '@strata/sqlite'

// Stacking across stores with the base on the S3 test server and branches in local directories:
// create, commit, export, materialize, delete; gc in the base with and without pins; damage in the
// base; a disallowed store refused before any request (every request to the base goes through a
// recording proxy); a read-only base; a swapped bucket; repoint; doctor and init on a server that
// does not enforce conditional writes.

let target: S3TestTarget
let loc: S3TestLocation
let recorder: S3TestProxy
let tmp: TempDir
let sourceDb: string
let n = 0

beforeAll(async () => {
  target = localS3TestTarget()
  loc = await newS3TestLocation('cross-store', target)
  // Forwards to the test server (which enforces conditions); records and can fail requests.
  recorder = await S3TestProxy.start({ upstream: target.endpoint, conditionalWrites: false })
  tmp = await tempDir('strata-cross-s3-')
  sourceDb = join(tmp.path, 'base.db')
  const db = new Database(sourceDb)
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER); CREATE INDEX items_name ON items(name)')
  const ins = db.prepare('INSERT INTO items (name, qty) VALUES (?, ?)')
  db.transaction(() => {
    for (let i = 0; i < 4000; i++) ins.run(`item ${i}`, i % 97)
  })()
  db.close()
})
afterAll(async () => {
  await recorder.close()
  await loc.cleanup()
  await tmp.cleanup()
})

/** A fresh base store on S3 (with main imported) and a fresh local store; `local(allow)` opens the latter. */
async function world() {
  const id = ++n
  const baseUrl = loc.url(`base-${id}`)
  const baseStore = S3Store.fromUrl(baseUrl, target.options)
  const base = await Repository.init(baseStore, { segmentBytes: 64 * 1024 })
  const imported = await base.importDatabase(sourceDb)
  const localStore = new LocalStore(join(tmp.path, `local-${id}`))
  await Repository.init(localStore)
  const opened: ObjectStore[] = []
  const local = (allow: string[] = [baseUrl]) =>
    Repository.open(localStore, {
      allowStores: allow,
      openStore: (url) => {
        const s = S3Store.fromUrl(url, { ...target.options, endpoint: recorder.endpoint, maxAttempts: 1 })
        opened.push(s)
        return s
      },
    })
  return { baseUrl, baseStore, base, imported, localStore, local, from: `${baseUrl}#main`, close: () => Promise.all([baseStore.close(), ...opened.map((s) => s.close?.())]) }
}

const toBase = (url: string) => recorder.requests.filter((r) => r.url.startsWith(`/${loc.bucket}/${url.slice(`s3://${loc.bucket}/`.length)}/`))

describe('a shared base on S3, branches in a local store', () => {
  it('create, commit through SQLite, export, materialize and delete; the base sees one pin and no page reads', async () => {
    const w = await world()
    const repo = await w.local()
    recorder.clearLog()
    const b = await repo.createBranch('feature', { from: w.from })
    expect(b.crossStore).toMatchObject({ store: { url: w.baseUrl, id: w.base.storeId }, snapshot: w.imported.snapshot, pinned: true })
    const sent = toBase(w.baseUrl)
    expect(sent.filter((r) => r.method === 'PUT').map((r) => decodeURIComponent(r.url.split('?')[0]!.split('/').slice(-3).join('/')))).toEqual([pinKey(repo.storeId, w.imported.snapshot)])
    expect(sent.filter((r) => r.url.includes('/segments/'))).toEqual([])

    const live = await openBranch(repo, 'feature', { cacheDir: join(tmp.path, 'cache') })
    live.db.exec("UPDATE items SET qty = qty + 1000 WHERE id <= 80; INSERT INTO items (name, qty) VALUES ('local only', 1)")
    const c = await live.commit({ message: 'local change' })
    await live.close()
    expect(c.changed).toBe(true)
    expect(c.ownPages).toBeLessThan(w.imported.pageCount / 2)

    const out = join(tmp.path, 'feature.db')
    await repo.export('feature', out)
    expect(integrityCheck(out).ok).toBe(true)
    const check = new Database(out, { readonly: true })
    expect(check.prepare('SELECT count(*) n FROM items WHERE qty >= 1000').get()).toEqual({ n: 80 })
    expect(check.prepare("SELECT qty FROM items WHERE name = 'local only'").get()).toEqual({ qty: 1 })
    check.close()
    const bytes = await readFile(out)

    await repo.materialize('feature')
    await repo.close()
    const alone = await Repository.open(w.localStore)
    const show = await alone.show('feature')
    expect(show.chain.map((l) => l.store)).toEqual([w.localStore.url])
    expect(Buffer.from(await alone.readDatabase('feature')).equals(bytes)).toBe(true)
    await alone.deleteBranch('feature')
    expect(await alone.listBranches()).toEqual([])
    await w.close()
  })

  it('materialize by reference copies only the pages the base store serves: ranged GETs of just those segments, no local page read', async () => {
    const w = await world()
    const counting = new CountingStore(w.localStore)
    const repo = await Repository.open(counting, {
      allowStores: [w.baseUrl],
      openStore: (url) => S3Store.fromUrl(url, { ...target.options, endpoint: recorder.endpoint, maxAttempts: 1 }),
    })
    await repo.createBranch('feature', { from: w.from })
    const size = w.imported.pageSize
    const page = (fill: number) => new Uint8Array(size).fill(fill)
    await repo.commit('feature', { writes: [[2, page(1)], [3, page(2)]] })
    await repo.createBranch('child', { from: 'feature' })
    await repo.commit('child', { writes: [[3, page(3)], [5, page(4)]] })
    const before = await repo.readDatabase('child')

    // What the chain says: pages the base serves, and the base segments holding them.
    const t = await repo.resolve((await repo.show('child')).id, 'child')
    const baseSegments = new Set<string>()
    let basePages = 0
    let localPages = 0
    for (let p = 1; p <= t.pageCount; p++) {
      const at = locatePage(t, p as Parameters<typeof locatePage>[1])
      if (!at) continue
      if (at.level.store.id === repo.storeId) {
        localPages++
        continue
      }
      basePages++
      baseSegments.add(at.level.manifest.segments[at.segment]!.id)
    }
    expect(localPages).toBeGreaterThanOrEqual(3)
    expect(basePages).toBeGreaterThan(localPages)

    recorder.clearLog()
    counting.reset()
    const r = await repo.materialize('child')
    expect(r).toMatchObject({ mode: 'reference', pagesReferenced: localPages, pagesUploaded: basePages, ownPages: localPages + basePages })
    // The base store: ranged GETs of exactly the segments that serve a page, nothing else.
    const sent = toBase(w.baseUrl)
    expect(sent.map((x) => x.method)).toEqual(sent.map(() => 'GET'))
    expect(sent.every((x) => x.url.includes('/segments/') && typeof x.headers.range === 'string')).toBe(true)
    expect(new Set(sent.map((x) => x.url.split('?')[0]!.split('/').pop()))).toEqual(baseSegments)
    expect(sent.length).toBeLessThanOrEqual(2 * baseSegments.size)
    // The local store: no page read, and only the base's pages written.
    expect(counting.log.filter((c) => c.operation === 'get' && c.key.startsWith('segments/'))).toEqual([])
    const segmentPuts = counting.log.filter((c) => c.operation === 'put' && c.key.startsWith('segments/'))
    expect(segmentPuts.reduce((a, c) => a + c.bytes, 0)).toBe(basePages * size)

    await repo.close()
    const alone = await Repository.open(w.localStore)
    expect((await alone.show('child')).chain.map((l) => l.store)).toEqual([w.localStore.url])
    expect(Buffer.from(await alone.readDatabase('child')).equals(Buffer.from(before))).toBe(true)
    // feature and the history of child still stack on the base, which this repository may not open.
    await alone.deleteBranch('feature')
    expect((await alone.verify({ deep: true, retention: { keepLast: 1, keepWithinMs: 0 } })).problems).toEqual([])
    await alone.close()
    await w.close()
  })

  it('gc in the base keeps a pinned snapshot, and frees it once the dependent store prunes its pin', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('pinned', { from: w.from })
    await w.base.materialize('main')
    const retention = { keepLast: 1, keepWithinMs: 0 }
    const kept = await w.base.gc({ graceMs: 0, retention })
    expect(kept.deleted.map((d) => d.key)).not.toContain(snapshotKey(w.imported.snapshot))
    expect((await repo.readDatabase('pinned')).length).toBe(w.imported.pageCount * w.imported.pageSize)

    await repo.deleteBranch('pinned')
    await repo.gc({ graceMs: 0, retention })
    expect((await repo.prunePins({ graceMs: 0 })).removed.map((p) => p.snapshot)).toEqual([w.imported.snapshot])
    const freed = await w.base.gc({ graceMs: 0, retention })
    expect(freed.deleted.map((d) => d.key)).toContain(snapshotKey(w.imported.snapshot))
    await repo.close()
    await w.close()
  })

  it('without a pin gc in the base frees the snapshot, and the branch fails with the same hard error as inside one store', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('loose', { from: w.from, pin: false })
    expect((await repo.show('loose')).crossStore).toMatchObject([{ store: { url: w.baseUrl }, pinned: false }])
    await w.base.materialize('main')
    await w.base.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } })
    await repo.close()
    const again = await w.local()
    const e = await again.readDatabase('loose').catch((x: unknown) => x)
    expect(isStrataError(e, 'STRATA_MISSING_OBJECT')).toBe(true)
    expect((e as Error).message).toContain(`${w.baseUrl}/${snapshotKey(w.imported.snapshot)}`)
    await again.close()
    await w.close()
  })

  it('a missing segment in the base is MissingObjectError, as inside the base itself', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const seg = (await w.base.snapshot(w.imported.snapshot)).segments[0]!.id
    await w.baseStore.delete([segmentKey(seg)])
    for (const r of [repo, w.base]) {
      const e = await r.export(r === repo ? 'feature' : 'main', join(tmp.path, 'x.db')).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_MISSING_OBJECT')).toBe(true)
      expect((e as Error).message).toContain(segmentKey(seg))
    }
    await repo.close()
    await w.close()
  })

  it('a store that is not allowed is refused before any request to it, naming the URL and snapshot', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    await repo.close()
    recorder.clearLog()
    for (const allow of [[], [loc.url('somewhere-else')]]) {
      const strict = await w.local(allow)
      const e = await strict.readDatabase('feature').catch((x: unknown) => x)
      expect(e).toMatchObject({ code: 'STRATA_STORE_NOT_ALLOWED', data: { url: w.baseUrl, snapshot: w.imported.snapshot } })
      expect(await strict.createBranch('other', { from: w.from }).catch((x: unknown) => (x as { code?: string }).code)).toBe('STRATA_STORE_NOT_ALLOWED')
      await strict.close()
    }
    expect(recorder.requests).toEqual([])
    await w.close()
  })

  it('a read-only base (access denied) leaves the branch unpinned and readable', async () => {
    const w = await world()
    const repo = await w.local()
    recorder.injectFault({ status: 403, code: 'AccessDenied', message: 'Access Denied' }, { method: 'PUT', times: 1000 })
    try {
      const b = await repo.createBranch('ro', { from: w.from })
      expect(b.crossStore).toMatchObject({ pinned: false, unpinnedReason: expect.stringMatching(/refused the write.*(403|AccessDenied|Access Denied)/) })
    } finally {
      recorder.clearFaults()
    }
    expect(await w.base.listPins()).toEqual([])
    expect((await repo.show('ro')).crossStore).toMatchObject([{ pinned: false }])
    expect((await repo.readDatabase('ro')).length).toBe(w.imported.pageCount * w.imported.pageSize)
    await repo.close()
    await w.close()
  })

  it('detects a swapped bucket, and repoint follows a moved one after checking it', async () => {
    const w = await world()
    const repo = await w.local()
    await repo.createBranch('feature', { from: w.from })
    const expected = await repo.readDatabase('feature')
    await repo.close()

    // Move: copy every object to a new prefix, then empty the old one.
    const movedUrl = loc.url('moved-' + n)
    const moved = S3Store.fromUrl(movedUrl, target.options)
    for await (const o of w.baseStore.list('')) await moved.put(o.key, (await w.baseStore.get(o.key))!.body)
    const oldKeys: string[] = []
    for await (const o of w.baseStore.list('')) oldKeys.push(o.key)
    await w.baseStore.delete(oldKeys)
    // Something else now lives at the old URL.
    await Repository.init(w.baseStore)

    const swapped = await w.local([w.baseUrl, movedUrl])
    const e = await swapped.readDatabase('feature').catch((x: unknown) => x)
    expect(e).toMatchObject({ code: 'STRATA_STORE_NOT_ALLOWED', data: { url: w.baseUrl } })
    expect((e as Error).message).toMatch(/moved or swapped/)
    const r = await swapped.repoint(w.baseUrl, movedUrl)
    expect(r).toMatchObject({ storeId: w.base.storeId, to: movedUrl, snapshots: [w.imported.snapshot] })
    await swapped.close()

    const after = await w.local([movedUrl])
    expect(Buffer.from(await after.readDatabase('feature')).equals(Buffer.from(expected))).toBe(true)
    expect((await after.crossStoreDependencies())).toMatchObject([{ storeId: w.base.storeId, url: movedUrl, recordedUrls: [w.baseUrl], status: 'ok', snapshots: [{ snapshot: w.imported.snapshot, pinned: true }] }])
    await after.close()
    await moved.close()
    await w.close()
  })
})

describe('doctor and init on S3', () => {
  it('finds the test server fit, and a server without conditional writes unfit; init refuses the latter', async () => {
    const ok = S3Store.fromUrl(loc.url('doctor'), target.options)
    const report = await probeStore(ok, { concurrencyLevels: [1, 4], objectBytes: 64 * 1024 })
    expect(report).toMatchObject({ ok: true, cas: { ok: true }, listConsistency: { ok: true }, cleanedUp: true })
    await ok.close()

    // fauxqs itself, without the proxy, answers 200 to conditional puts it should refuse.
    const raw = await startTestS3()
    try {
      const { createTestBucket } = await import('@strata/s3/testing')
      await createTestBucket(raw.upstreamEndpoint, 'no-cas')
      const store = S3Store.fromUrl('s3://no-cas/db', { ...target.options, endpoint: raw.upstreamEndpoint })
      const r = await probeStore(store, { concurrencyLevels: [1], objectBytes: 1024 })
      expect(r).toMatchObject({ ok: false, cas: { createOnly: 'ignored', replaceIfVersion: 'ignored' }, cleanedUp: true })
      const e = await Repository.init(store).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_UNSAFE_STORE')).toBe(true)
      expect(await store.head('strata.format')).toBeNull()
      await Repository.init(store, { unsafeNoCas: true })
      expect(await store.head('strata.format')).not.toBeNull()
      await store.close()
    } finally {
      await raw.stop()
    }
  })
})
