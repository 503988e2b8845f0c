import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError, type PageNo, type SnapshotId } from '../../src/index.js'
import { lockBytePage, refKey, segmentKey, snapshotKey } from '../../src/engine.js'
import { sameBytes, scratch, stampHeader, syntheticDb, tempRepo, testPage, writeDb } from '../helpers.js'

const PS = 512
let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup(pages = 16, opts: Parameters<typeof tempRepo>[0] = {}) {
  const t = await tempRepo({ segmentBytes: 4 * PS, ...opts })
  cleanups.push(t.cleanup)
  const db = syntheticDb(PS, pages)
  const path = await writeDb(t.dir, 'base.db', db)
  const imported = await t.repo.importDatabase(path, { message: 'base' })
  return { ...t, db, path, imported }
}

/** The expected bytes of a database: `base` with `writes` applied, cut or grown to `pageCount`. */
function apply(base: Uint8Array, writes: Map<number, Uint8Array>, pageCount: number): Uint8Array {
  const out = new Uint8Array(pageCount * PS)
  out.set(base.subarray(0, Math.min(base.length, out.length)))
  for (const [p, page] of writes) if (p <= pageCount) out.set(page, (p - 1) * PS)
  return out
}

describe('Repository: import, branch, commit, read', () => {
  it('imports a file as a standalone root snapshot on main and exports it byte-identical', async () => {
    const { repo, dir, db, imported } = await setup()
    expect(imported).toMatchObject({ branch: 'main', pageCount: 16, pageSize: PS, segments: 4 })
    const show = await repo.show('main')
    expect(show.fallback).toBeNull()
    expect(show.ownPages).toBe(16)
    expect(show.chain).toHaveLength(1)
    const out = join(dir, 'out.db')
    await repo.export('main', out)
    expect(new Uint8Array(await readFile(out))).toEqual(db)
    expect(await repo.readDatabase(imported.snapshot)).toEqual(db)
  })

  it('commits only pages that differ from the base, and drops a page written back', async () => {
    const { repo, db } = await setup()
    await repo.createBranch('feature')
    const c1 = await repo.commit('feature', { writes: [[3, testPage(PS, 0xaa)], [5, testPage(PS, 0xbb)]], message: 'two pages' })
    expect(c1).toMatchObject({ changed: true, ownPages: 2, pagesUploaded: 2 })
    // Write page 3 back to its base content: it leaves the delta; page 5 is carried, not re-uploaded.
    const c2 = await repo.commit('feature', { writes: [[3, db.slice(2 * PS, 3 * PS)]] })
    expect(c2).toMatchObject({ changed: true, ownPages: 1, pagesUploaded: 0 })
    const m = await repo.snapshot(c2.snapshot)
    expect([...m.pages.pageNos]).toEqual([5])
    expect(m.fallback?.snapshot).toBe((await repo.getBranch('main')).head)
    expect(await repo.readDatabase('feature')).toEqual(apply(db, new Map([[5, testPage(PS, 0xbb)]]), 16))
    // Main is untouched.
    expect(await repo.readDatabase('main')).toEqual(db)
  })

  it('reports an unchanged commit without writing a snapshot', async () => {
    const { repo, db } = await setup()
    await repo.createBranch('b')
    const r = await repo.commit('b', { writes: [[2, db.slice(PS, 2 * PS)]] })
    expect(r.changed).toBe(false)
    expect(r.snapshot).toBe((await repo.getBranch('b')).head)
  })

  it('keeps chain depth at the stacking depth, not the number of commits', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    for (let i = 0; i < 10; i++) await repo.commit('b', { writes: [[2 + (i % 3), testPage(PS, i + 1)]] })
    const show = await repo.show('b')
    expect(show.chain).toHaveLength(2)
    const log = await repo.log('b')
    expect(log).toHaveLength(11)
    expect(log[0]!.parent).toBe(log[1]!.id)
    expect(log.at(-1)!.operation).toBe('import')
  })

  it('resolves through a chain of depth 10 with pages owned at different levels, growing and shrinking', async () => {
    const { repo, db } = await setup(16)
    let expected = db
    let from = 'main'
    for (let level = 1; level <= 9; level++) {
      const name = `l${level}`
      await repo.createBranch(name, { from })
      const count = 16 + ((level * 5) % 7) - 3 // 18, 13, 15, 17, 19, 14, 16, 18, 13
      const prevCount = expected.length / PS
      const writes = new Map<number, Uint8Array>()
      writes.set(level, testPage(PS, 100 + level, level)) // one page per level
      for (let p = prevCount + 1; p <= count; p++) writes.set(p, testPage(PS, 200 + level, p)) // growth
      await repo.commit(name, { writes, pageCount: count })
      expected = apply(expected, writes, count)
      expect(await repo.readDatabase(name)).toEqual(expected)
      from = name
    }
    const show = await repo.show('l9')
    expect(show.chain).toHaveLength(10)
    // Each page is served by the level that last wrote it.
    const t = await repo.resolve(show.id)
    expect(t.levels[t.level[1 - 1]!]!.id).toBe((await repo.show('l1')).id)
    expect(t.levels[t.level[9 - 1]!]!.id).toBe(show.id)
    for (let p = 1; p <= 13; p++) expect(await repo.readPage('l9', p)).toEqual(expected.slice((p - 1) * PS, p * PS))
  })

  it('refuses growth that leaves a new page unwritten, and writes past the page count', async () => {
    const { repo } = await setup(4)
    await repo.createBranch('b')
    await expect(repo.commit('b', { writes: [[6, testPage(PS, 1)]], pageCount: 6 })).rejects.toMatchObject({ code: 'STRATA_INVALID_ARGUMENT' })
    await expect(repo.commit('b', { writes: [[6, testPage(PS, 1)]], pageCount: 5 })).rejects.toMatchObject({ code: 'STRATA_INVALID_ARGUMENT' })
    await expect(repo.commit('b', { writes: [[2, new Uint8Array(100)]] })).rejects.toMatchObject({ code: 'STRATA_INVALID_ARGUMENT' })
  })

  it('re-growing after a shrink needs the pages again and serves the new ones', async () => {
    const { repo, db } = await setup(8)
    await repo.createBranch('b')
    await repo.commit('b', { pageCount: 4 })
    expect(await repo.readDatabase('b')).toEqual(db.slice(0, 4 * PS))
    const writes = new Map([[5, testPage(PS, 9)], [6, db.slice(5 * PS, 6 * PS)]])
    await repo.commit('b', { writes, pageCount: 6 })
    expect(await repo.readDatabase('b')).toEqual(apply(db, writes, 6))
    // Page 6 equals the base's page 6, so it is served by the base, not stored again.
    expect([...(await repo.snapshot((await repo.getBranch('b')).head)).pages.pageNos]).toEqual([5])
  })

  it('detects a moved head with expectedHead before uploading', async () => {
    const { repo } = await setup()
    await repo.createBranch('b')
    const before = (await repo.getBranch('b')).head
    await repo.commit('b', { writes: [[2, testPage(PS, 7)]] })
    const err = await repo.commit('b', { writes: [[3, testPage(PS, 8)]], expectedHead: before }).catch((e) => e)
    expect(isStrataError(err, 'STRATA_CONFLICT')).toBe(true)
  })

  it('materializes a stacked branch into a standalone snapshot that no longer needs its ancestors', async () => {
    const { repo, store, db } = await setup()
    await repo.createBranch('a')
    await repo.commit('a', { writes: [[2, testPage(PS, 1)]] })
    await repo.createBranch('b', { from: 'a' })
    await repo.commit('b', { writes: [[3, testPage(PS, 2)], [17, testPage(PS, 3)]], pageCount: 17 })
    const expected = await repo.readDatabase('b')
    const r = await repo.materialize('b')
    const show = await repo.show('b')
    expect(show.fallback).toBeNull()
    expect(show.chain).toHaveLength(1)
    expect(show.ownPages).toBe(17)
    expect((await repo.getBranch('b')).base).toBe(r.snapshot)
    // Remove every other snapshot: b still reads.
    const others = [(await repo.getBranch('a')).head, (await repo.getBranch('main')).head]
    await store.delete(others.map((id) => snapshotKey(id)))
    const fresh = await Repository.open(store)
    expect(await fresh.readDatabase('b')).toEqual(expected)
    // Commits after materialize stack on the materialized snapshot.
    await fresh.commit('b', { writes: [[1, stampHeader(testPage(PS, 0x77), PS)]] })
    expect((await fresh.show('b')).chain).toHaveLength(2)
  })
})

describe('Repository: branches', () => {
  it('creates branches from a branch or a snapshot id prefix', async () => {
    const { repo, imported } = await setup()
    const a = await repo.createBranch('feature/x', { from: imported.snapshot.slice(0, 8) })
    expect(a.head).toBe(imported.snapshot)
    expect(a.source).toBe(imported.snapshot)
    // `feature` and `feature/x` coexist (no file/directory conflict in the local store).
    await repo.createBranch('feature', { from: 'feature/x' })
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['feature', 'feature/x', 'main'])
  })

  it('rejects invalid names, duplicates and names differing only in case', async () => {
    const { repo } = await setup()
    for (const bad of ['', '../x', '/abs', 'a//b', 'a/../b', 'x\0y', 'sp ace', 'a'.repeat(201), 'tab\t', 'é']) {
      const e = await repo.createBranch(bad).catch((x) => x)
      expect(isStrataError(e, 'STRATA_INVALID_NAME'), `name ${JSON.stringify(bad)}`).toBe(true)
    }
    await repo.createBranch('Feature')
    await expect(repo.createBranch('Feature')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS' })
    await expect(repo.createBranch('feature')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS' })
    await expect(repo.createBranch('x', { from: 'nope' })).rejects.toMatchObject({ code: 'STRATA_BRANCH_NOT_FOUND' })
    await expect(repo.createBranch('x', { from: 'abcdef12' })).rejects.toMatchObject({ code: 'STRATA_SNAPSHOT_NOT_FOUND' })
  })

  it('renames and deletes; main is protected', async () => {
    const { repo } = await setup()
    await repo.createBranch('a')
    await repo.renameBranch('a', 'b')
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['b', 'main'])
    await expect(repo.deleteBranch('main')).rejects.toMatchObject({ code: 'STRATA_PROTECTED_BRANCH' })
    await expect(repo.renameBranch('main', 'x')).rejects.toMatchObject({ code: 'STRATA_PROTECTED_BRANCH' })
    await expect(repo.deleteBranch('a')).rejects.toMatchObject({ code: 'STRATA_BRANCH_NOT_FOUND' })
    await repo.deleteBranch('b')
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['main'])
  })

  it('deleting the middle branch of main → a → b keeps b byte-identical and frees the name', async () => {
    const { repo, dir } = await setup()
    await repo.createBranch('a')
    await repo.commit('a', { writes: [[2, testPage(PS, 0x11)]] })
    await repo.createBranch('b', { from: 'a' })
    await repo.commit('b', { writes: [[4, testPage(PS, 0x22)]] })
    await repo.export('b', join(dir, 'before.db'))
    const aId = (await repo.getBranch('a')).branchId
    await repo.deleteBranch('a')
    await repo.export('b', join(dir, 'after.db'))
    expect(sameBytes(await readFile(join(dir, 'after.db')), await readFile(join(dir, 'before.db')))).toBe(true)
    const again = await repo.createBranch('a')
    expect(again.branchId).not.toBe(aId)
    expect(again.head).toBe((await repo.getBranch('main')).head)
  })

  it('creates a branch of a 64 MiB database writing at most 2 KiB and reading no page', async () => {
    const t = await tempRepo()
    cleanups.push(t.cleanup)
    const pages = (64 * 1024 * 1024) / 4096
    const path = await writeDb(t.dir, 'big.db', syntheticDb(4096, pages, (p) => p * 7))
    await t.repo.importDatabase(path)
    const { CountingStore } = await import('../../src/testing/index.js')
    const counting = new CountingStore(t.store)
    const repo = await Repository.open(counting)
    counting.reset()
    await repo.createBranch('throwaway')
    expect(counting.bytesWritten).toBeLessThanOrEqual(2048)
    // One put: the ref, which carries the branch's origin and is its own gc intent (see gc.ts).
    // No page and no manifest is read: only the source's ref, twice.
    expect(counting.counts.put.calls).toBe(1)
    expect(counting.log.filter((c) => c.operation === 'get' && !c.key.startsWith('refs/'))).toEqual([])
    expect(counting.bytesRead).toBeLessThan(2048)
    expect(await repo.readPage('throwaway', 1000)).toEqual(await repo.readPage('main', 1000))
  })
})

describe('Repository: damage is a hard, typed error', () => {
  it('a deleted snapshot in the chain is MissingObjectError naming the key', async () => {
    const { repo, store } = await setup()
    await repo.createBranch('a')
    await repo.commit('a', { writes: [[2, testPage(PS, 1)]] })
    const mainHead = (await repo.getBranch('main')).head
    await store.delete([snapshotKey(mainHead)])
    const fresh = await Repository.open(store)
    const e = await fresh.readDatabase('a').catch((x) => x)
    expect(isStrataError(e, 'STRATA_MISSING_OBJECT')).toBe(true)
    expect(e.data.key).toBe(snapshotKey(mainHead))
  })

  it('a deleted segment is MissingObjectError; a flipped byte is CorruptPageError', async () => {
    const { repo, store } = await setup()
    const m = await repo.snapshot((await repo.getBranch('main')).head)
    const seg = segmentKey(m.segments[1]!.id)
    const original = (await store.get(seg))!.body
    const flipped = new Uint8Array(original)
    flipped[10] = flipped[10]! ^ 0xff
    await store.put(seg, flipped)
    const e1 = await Repository.open(store).then((r) => r.readDatabase('main')).catch((x) => x)
    expect(isStrataError(e1, 'STRATA_CORRUPT_PAGE')).toBe(true)
    expect(e1.data).toMatchObject({ key: seg, pageNo: 5 })
    await store.put(seg, original.subarray(0, PS))
    const e2 = await Repository.open(store).then((r) => r.readDatabase('main')).catch((x) => x)
    expect(isStrataError(e2, 'STRATA_CORRUPT_OBJECT')).toBe(true)
    await store.delete([seg])
    const e3 = await Repository.open(store).then((r) => r.readPage('main', 6)).catch((x) => x)
    expect(isStrataError(e3, 'STRATA_MISSING_OBJECT')).toBe(true)
    expect(e3.data.key).toBe(seg)
    // Other pages still read.
    expect((await (await Repository.open(store)).readPage('main', 1)).byteLength).toBe(PS)
  })

  it('a manifest that lacks a page below is MissingPageError naming branch, snapshot, page and chain', async () => {
    const { repo, store } = await setup(4)
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[5, testPage(PS, 5)], [6, testPage(PS, 6)]], pageCount: 6 })
    // Forge a snapshot of b that claims 7 pages but owns nothing past 6.
    const { encodeManifest, encodeRef, decodeRef } = await import('../../src/engine.js')
    const head = await repo.snapshot((await repo.getBranch('b')).head)
    const forged = encodeManifest({ ...head, pageCount: 7 as never })
    await store.put(snapshotKey(forged.id), forged.bytes)
    const refBytes = (await store.get(refKey('b')))!.body
    await store.put(refKey('b'), encodeRef({ ...decodeRef(refKey('b'), refBytes), head: forged.id }))
    const e = await (await Repository.open(store)).readDatabase('b').catch((x) => x)
    expect(isStrataError(e, 'STRATA_MISSING_PAGE')).toBe(true)
    expect(e.data).toMatchObject({ branch: 'b', snapshot: forged.id, pageNo: 7 })
    expect(e.data.chain).toHaveLength(2)
    expect(e.message).toContain('page 7 of branch "b"')
  })

  it('a damaged manifest is CorruptObjectError; an unknown store is NotARepository', async () => {
    const { repo, store } = await setup()
    const id = (await repo.getBranch('main')).head as SnapshotId
    const bytes = (await store.get(snapshotKey(id)))!.body
    await store.put(snapshotKey(id), bytes.subarray(0, bytes.length - 7))
    const e = await (await Repository.open(store)).readDatabase('main').catch((x) => x)
    expect(isStrataError(e, 'STRATA_CORRUPT_OBJECT')).toBe(true)
    const s = await scratch()
    cleanups.push(s.cleanup)
    const { LocalStore } = await import('../../src/index.js')
    await expect(Repository.open(new LocalStore(s.dir))).rejects.toMatchObject({ code: 'STRATA_NOT_A_REPOSITORY' })
  })
})

describe('Repository: import validation', () => {
  it('refuses files that are not complete, quiescent SQLite databases and writes nothing', async () => {
    const { repo, store, dir, db } = await setup()
    const before = await keysOf(store)
    const cases: [string, Uint8Array][] = [
      ['empty.db', new Uint8Array(0)],
      ['text.db', new TextEncoder().encode('hello, this is not a database at all'.repeat(40))],
      ['truncated.db', db.slice(0, 3 * PS + 100)],
      ['short-header.db', db.slice(0, 50)],
    ]
    const lyingSize = db.slice(0, 4 * PS)
    cases.push(['lying-count.db', lyingSize]) // header still says 16 pages
    const badPageSize = db.slice()
    new DataView(badPageSize.buffer).setUint16(16, 1000)
    cases.push(['bad-page-size.db', badPageSize])
    for (const [name, bytes] of cases) {
      const path = await writeDb(dir, name, bytes)
      const e = await repo.importDatabase(path, { branch: name.replace('.db', '') }).catch((x) => x)
      expect(isStrataError(e, 'STRATA_INVALID_DATABASE'), name).toBe(true)
    }
    const missing = await repo.importDatabase(join(dir, 'nope.db'), { branch: 'nope' }).catch((x) => x)
    expect(isStrataError(missing, 'STRATA_INVALID_DATABASE')).toBe(true)
    // Hot journal and un-checkpointed WAL.
    const good = await writeDb(dir, 'good.db', syntheticDb(PS, 4))
    await writeDb(dir, 'good.db-journal', new Uint8Array(512).fill(1))
    await expect(repo.importDatabase(good, { branch: 'j' })).rejects.toMatchObject({ code: 'STRATA_INVALID_DATABASE' })
    const good2 = await writeDb(dir, 'good2.db', syntheticDb(PS, 4))
    await writeDb(dir, 'good2.db-wal', new Uint8Array(32).fill(1))
    await expect(repo.importDatabase(good2, { branch: 'w' })).rejects.toMatchObject({ code: 'STRATA_INVALID_DATABASE' })
    expect(await keysOf(store)).toEqual(before)
  })

  it('refuses to import onto an existing branch', async () => {
    const { repo, path } = await setup()
    await expect(repo.importDatabase(path)).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS' })
  })
})

describe('Repository: the lock-byte page', () => {
  it('is never stored, reads as zeros and survives export of a database larger than 1 GiB', { timeout: 180_000 }, async () => {
    const t = await tempRepo({ segmentBytes: 4 * 1024 * 1024 })
    cleanups.push(t.cleanup)
    const size = 65536
    const lock = lockBytePage(size as never)
    const pages = lock + 2
    // A sparse file: page 1 holds the header, everything else is zeros (SQLite leaves the
    // lock-byte page unwritten, so zeros is what such a file holds there).
    const { open } = await import('node:fs/promises')
    const path = join(t.dir, 'huge.db')
    const fh = await open(path, 'w')
    await fh.truncate(pages * size)
    await fh.write(stampHeader(new Uint8Array(size * 1), size).subarray(0, 100), 0, 100, 0)
    // The header page count must match the whole file.
    const hdr = stampHeader(new Uint8Array(size), size)
    new DataView(hdr.buffer).setUint32(28, pages)
    await fh.write(hdr.subarray(0, 100), 0, 100, 0)
    await fh.write(testPage(size, 0x5a), 0, size, (lock - 1 - 1) * size) // the page before the lock page
    await fh.write(testPage(size, 0xa5), 0, size, lock * size) // the page after it
    await fh.close()
    const r = await t.repo.importDatabase(path)
    const m = await t.repo.snapshot(r.snapshot)
    expect(m.pages.pageNos.length).toBe(pages - 1)
    expect([...m.pages.pageNos]).not.toContain(lock)
    expect(await t.repo.readPage('main', lock)).toEqual(new Uint8Array(size))
    await t.repo.createBranch('b')
    // A write to the lock-byte page is not stored; a neighbour is.
    const c = await t.repo.commit('b', { writes: [[lock, testPage(size, 1)], [lock + 1, testPage(size, 2)]] })
    expect(c.ownPages).toBe(1)
    expect(await t.repo.readPage('b', (lock + 1) as PageNo)).toEqual(testPage(size, 2))
    const out = join(t.dir, 'out.db')
    await t.repo.export('main', out)
    const { createHash } = await import('node:crypto')
    const { createReadStream } = await import('node:fs')
    const digest = async (p: string) => {
      const h = createHash('sha256')
      for await (const chunk of createReadStream(p)) h.update(chunk)
      return h.digest('hex')
    }
    expect(await digest(out)).toBe(await digest(path))
  })
})


async function keysOf(store: { list(prefix: string): AsyncIterable<{ key: string }> }): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list('')) keys.push(o.key)
  return keys
}
