import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { isStrataError, type Repository } from '@strata/core'
import { decodeRef, encodeRef, refKey, segmentKey, type ReadHint } from '@strata/core/engine'
import { CountingStore } from '@strata/core/testing'
import { openBranch, type LazyOptions, type LiveBranch } from '../src/index.js'
import { interiorChildren } from '../src/lazy/btree-page.js'
import { buildDatabase, makeRepo, type TestRepo } from './helpers.js'

const CONTROLLED = pathToFileURL(join(import.meta.dirname, 'fixtures', 'controlled-store.mjs')).href

async function repoWithData(scale = 0.5): Promise<TestRepo> {
  const t = await makeRepo()
  const src = join(t.dir, 'source.sqlite')
  buildDatabase(src, { scale })
  await t.repo.importDatabase(src)
  return t
}

/** A store for the fetcher thread whose faults `control` switches (see fixtures/controlled-store.mjs). */
function controlled(t: TestRepo): { control: Int32Array; lazy: LazyOptions } {
  const sab = new SharedArrayBuffer(16)
  const key = `controlled-${Math.random()}`
  return { control: new Int32Array(sab), lazy: { storeRecipe: () => ({ module: CONTROLLED, export: 'openControlledStore', args: [t.storeDir, sab], key }) } }
}

const userById = (live: LiveBranch, id: number): unknown => live.db.prepare('SELECT id, email FROM users WHERE id = ?').get(id)

describe('a lazy branch', () => {
  it('opens without copying: a sparse file, the open window fetched, then only what queries read', async () => {
    const t = await repoWithData()
    try {
      // Without prefetching children, so that what the open fetched is exactly the window.
      const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { prefetchChildren: 0 } })
      expect(live.mode).toBe('lazy')
      const opened = live.lazyStats()!
      const size = statSync(live.path!)
      expect(size.size).toBe(opened.pageCount * 4096)
      expect(opened).toMatchObject({ present: 12, pagesFetched: 12, misses: 0 })
      // Sparse: only the fetched pages take blocks.
      expect(size.blocks * 512).toBeLessThan(size.size / 4)

      expect(userById(live, 1234)).toEqual({ id: 1234, email: 'user1234@example.com' })
      const point = live.lazyStats()!
      expect(point.pagesFetched).toBeLessThan(64)
      expect(point.present).toBe(point.pagesFetched)

      // A present page is a local read: the same query fetches nothing more.
      expect(userById(live, 1234)).toEqual({ id: 1234, email: 'user1234@example.com' })
      expect(live.lazyStats()!.pagesFetched).toBe(point.pagesFetched)

      // A scan fetches runs, not one page per round trip.
      expect((live.db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n).toBe(7500)
      const scan = live.lazyStats()!
      expect(scan.misses).toBeLessThan((scan.pagesFetched - point.pagesFetched) / 4)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('reads its first pages alongside the manifest on the ref hint; a hint at the wrong run, at a deleted segment or none costs the open window fetch and reads the same', async () => {
    const t = await repoWithData()
    try {
      const stored = (await t.repo.store.get(refKey('main')))!
      const ref = decodeRef(refKey('main'), stored.body)
      const good = ref.readHint!
      expect(good.snapshot).toBe(ref.head)
      const { readHint: _, ...plain } = ref
      let version = stored.version
      const withHint = async (readHint: ReadHint | null): Promise<void> => {
        version = (await t.repo.store.put(refKey('main'), encodeRef(readHint ? { ...plain, readHint } : plain), { ifMatch: version })).version
      }
      const run = good.runs[0]!
      const cases: [string, ReadHint | null, number][] = [
        ['the hint as written', good, 0],
        ['the wrong run', { ...good, runs: [{ ...run, offset: run.offset + 4096 }] }, 1],
        ['a deleted segment', { ...good, runs: [{ ...run, segment: 'e'.repeat(64) as typeof run.segment }] }, 1],
        ['no hint', null, 1],
      ]
      for (const [what, hint, openReads] of cases) {
        await withHint(hint)
        const { control, lazy } = controlled(t)
        const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { ...lazy, prefetchChildren: 0 } })
        try {
          expect(live.lazyStats(), what).toMatchObject({ present: 12, misses: 0 })
          // Segment reads of the fetcher thread at open: none when the hint brought the window.
          expect(Atomics.load(control, 2), what).toBe(openReads)
          expect(userById(live, 1234), what).toEqual({ id: 1234, email: 'user1234@example.com' })
          expect(live.db.prepare('PRAGMA quick_check').pluck().get(), what).toBe('ok')
        } finally {
          await live.close()
        }
      }
    } finally {
      await t.cleanup()
    }
  })

  it('reads the children of B-tree interior pages as dbstat names them, and prefetches those of the pages fetched at open', async () => {
    const t = await makeRepo()
    try {
      const src = join(t.dir, 'source.sqlite')
      buildDatabase(src, { scale: 0.5 })
      await t.repo.importDatabase(src)
      const file = readFileSync(src)
      const page = (p: number): Uint8Array => file.subarray((p - 1) * 4096, p * 4096)
      const pageCount = file.byteLength / 4096
      const db = new Database(src, { readonly: true })
      const rows = db.prepare('SELECT name, path, pageno, pagetype FROM dbstat').all() as { name: string; path: string; pageno: number; pagetype: string }[]
      db.close()
            const interior = rows.filter((r) => r.pagetype === 'internal')
      expect(interior.length).toBeGreaterThan(5)
      for (const r of interior) {
        const children = rows.filter((c) => c.name === r.name && c.path.startsWith(r.path) && /^[0-9a-f]+\/$/.test(c.path.slice(r.path.length))).sort((a, b) => (a.path < b.path ? -1 : 1))
        expect(interiorChildren(page(r.pageno), r.pageno, pageCount)).toEqual(children.map((c) => c.pageno))
      }
      for (const r of rows.filter((x) => x.pagetype !== 'internal')) expect(interiorChildren(page(r.pageno), r.pageno, pageCount)).toBeNull()

      // The open fetches pages 1…12; the children of the interior pages among them (at most 32
      // each) follow at once, in the background.
      const expected = new Set<number>()
      for (let p = 1; p <= 12; p++) {
        const kids = interiorChildren(page(p), p, pageCount)
        if (kids && kids.length <= 32) for (const k of kids) if (k > 12) expected.add(k)
      }
      expect(expected.size).toBeGreaterThan(0)
      const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir })
      let s = live.lazyStats()!
      for (let i = 0; i < 200 && s.present < 12 + expected.size; i++) {
        await new Promise((r) => setTimeout(r, 10))
        s = live.lazyStats()!
      }
      await new Promise((r) => setTimeout(r, 50))
      expect(live.lazyStats()!).toMatchObject({ present: 12 + expected.size, pagesFetched: 12 + expected.size, misses: 0 })
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('streams a scan ahead of the reader, but only a bounded distance past where it stopped', async () => {
    const t = await repoWithData()
    try {
      // Windows of at most 4 pages: the stream runs at most 16 × 4 pages past the latest miss.
      const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { maxWindow: 4, prefetchChildren: 0 } })
      const total = live.lazyStats()!.pageCount
      let n = 0
      for (const _ of live.db.prepare('SELECT * FROM orders').iterate()) if (++n === 2000) break
      let s = live.lazyStats()!
      for (let i = 0, last = -1; i < 100 && s.pagesFetched !== last; i++) {
        last = s.pagesFetched
        await new Promise((r) => setTimeout(r, 30))
        s = live.lazyStats()!
      }
      expect(s.present).toBeLessThan(total / 2)
      // A full scan afterwards reads the right rows.
      expect((live.db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n).toBe(7500)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('closes cleanly with a scan stream and prefetched children in flight on a slow store, and the branch opens again', async () => {
    const t = await repoWithData()
    try {
      const { control, lazy } = controlled(t)
      Atomics.store(control, 1, 60)
      Atomics.store(control, 0, 3)
      const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { ...lazy, maxWindow: 8 } })
      let n = 0
      for (const _ of live.db.prepare('SELECT * FROM orders').iterate()) if (++n === 300) break
      const reads = Atomics.load(control, 2)
      const path = live.path!
      expect(await live.close()).toBeNull()
      expect(() => statSync(path)).toThrow()
      // Fetches that were in flight finish into nothing; no more start.
      await new Promise((r) => setTimeout(r, 200))
      const settled = Atomics.load(control, 2)
      await new Promise((r) => setTimeout(r, 200))
      expect(Atomics.load(control, 2)).toBe(settled)
      expect(settled).toBeGreaterThan(reads - 1)
      Atomics.store(control, 0, 0)
      const again = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy })
      expect(userById(again, 77)).toEqual({ id: 77, email: 'user77@example.com' })
      expect((again.db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n).toBe(7500)
      await again.close()
    } finally {
      await t.cleanup()
    }
  })

  it('refuses PRAGMA mmap_size with a clear error, and runs VACUUM (fetching everything) with the same result as file mode', async () => {
    const t = await repoWithData(0.2)
    try {
      await t.repo.createBranch('lazy-side')
      await t.repo.createBranch('file-side')
      const lazy = await openBranch(t.repo, 'lazy-side', { mode: 'lazy', cacheDir: t.cacheDir })
      const err = (() => {
        try {
          lazy.db.pragma('mmap_size = 268435456')
        } catch (e) {
          return e
        }
      })()
      expect(isStrataError(err, 'STRATA_INVALID_STATE')).toBe(true)
      expect((err as Error).message).toMatch(/mmap_size.*not supported on a lazy branch.*mode 'file'/)
      expect(() => lazy.db.exec('PRAGMA mmap_size = 1000000')).toThrow(/not supported on a lazy branch/)
      expect(lazy.db.pragma('mmap_size', { simple: true })).toBe(0)

      const file = await openBranch(t.repo, 'file-side', { mode: 'file', cacheDir: t.cacheDir })
      for (const live of [lazy, file]) {
        live.db.exec('DELETE FROM orders WHERE id % 2 = 0; VACUUM')
        await live.commit({ message: 'vacuum' })
      }
      expect(lazy.lazyStats()!.present).toBeGreaterThanOrEqual(lazy.lazyStats()!.owned)
      const a = await t.repo.snapshot(lazy.head)
      const b = await t.repo.snapshot(file.head)
      expect(a.pageCount).toBe(b.pageCount)
      expect(Buffer.from(a.pages.hashes).equals(Buffer.from(b.pages.hashes))).toBe(true)
      await lazy.close()
      await file.close()
    } finally {
      await t.cleanup()
    }
  })

  it('two lazy handles on two branches in one process stay apart; closing during background hydration stops it cleanly', async () => {
    const t = await repoWithData()
    try {
      await t.repo.createBranch('a')
      await t.repo.createBranch('b')
      const { control, lazy } = controlled(t)
      const a = await openBranch(t.repo, 'a', { mode: 'lazy', cacheDir: t.cacheDir })
      // Slow reads of b, in small windows, so that background fetches are in flight when it closes.
      Atomics.store(control, 1, 40)
      Atomics.store(control, 0, 3)
      const b = await openBranch(t.repo, 'b', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { ...lazy, background: true, maxWindow: 8 } })
      a.db.prepare('UPDATE users SET email = ? WHERE id = 7').run('a@example.com')
      expect(userById(b, 7)).toEqual({ id: 7, email: 'user7@example.com' })
      expect(userById(a, 7)).toEqual({ id: 7, email: 'a@example.com' })
      await new Promise((r) => setTimeout(r, 120))
      const before = b.lazyStats()!
      expect(before.present).toBeLessThan(before.owned)
      const path = b.path!
      expect(await b.close()).toBeNull()
      expect(() => statSync(path)).toThrow()
      await new Promise((r) => setTimeout(r, 200))
      // The other handle is unaffected.
      expect(userById(a, 7)).toEqual({ id: 7, email: 'a@example.com' })
      expect((await a.commit({ message: 'a' })).changed).toBe(true)
      await a.close()
    } finally {
      await t.cleanup()
    }
  })

  it('hydrates everything in the background when asked', async () => {
    const t = await repoWithData(0.2)
    try {
      const live = await openBranch(t.repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { background: true } })
      for (let i = 0; i < 200 && !live.lazyStats()!.hydrated; i++) await new Promise((r) => setTimeout(r, 25))
      const s = live.lazyStats()!
      expect(s).toMatchObject({ hydrated: true, present: s.pageCount })
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('lets a process exit by itself with a lazy handle still open', async () => {
    const t = await repoWithData(0.1)
    try {
      const script = join(import.meta.dirname, 'fixtures', 'lazy-no-close.ts')
      const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', script, t.storeDir, 'main', t.cacheDir], { timeout: 30_000 })
      expect(JSON.parse(stdout)).toEqual({ mode: 'lazy', row: { email: 'user42@example.com' } })
    } finally {
      await t.cleanup()
    }
  })

  it('falls back to a full working file, with one warning, when a store cannot be opened by the fetcher thread', async () => {
    const t = await repoWithData(0.1)
    try {
      const repo = await (await import('@strata/core')).Repository.open(new CountingStore(t.repo.store))
      const warnings: string[] = []
      const live = await openBranch(repo, 'main', { mode: 'lazy', cacheDir: t.cacheDir, onWarning: (m) => warnings.push(m) })
      expect(live.mode).toBe('file')
      expect(live.lazyStats()).toBeNull()
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/lazy mode unavailable .*threadRecipe/)
      expect(userById(live, 3)).toEqual({ id: 3, email: 'user3@example.com' })
      await live.close()
    } finally {
      await t.cleanup()
    }
  })
})

describe('lazy reads that fail', () => {
  async function failing(t: TestRepo, extra: LazyOptions = {}): Promise<{ control: Int32Array; live: LiveBranch; repo: Repository }> {
    await t.repo.createBranch('work')
    const { control, lazy } = controlled(t)
    const live = await openBranch(t.repo, 'work', { mode: 'lazy', cacheDir: t.cacheDir, lazy: { ...lazy, timeoutMs: 1500, ...extra } })
    return { control, live, repo: t.repo }
  }

  it('a failing, throttled or too slow store fails the query with a typed error, commits nothing, and a retry after the fault clears succeeds', async () => {
    const t = await repoWithData()
    try {
      const { control, live } = await failing(t)
      const head = live.head
      live.db.prepare('UPDATE users SET email = ? WHERE id = 1').run('changed@example.com')
      const cases: [number, number, RegExp][] = [
        [1, 0, /get segments\//],
        [2, 0, /SlowDown/],
        [3, 4000, /not fetched within/],
      ]
      let id = 800
      for (const [mode, latency, message] of cases) {
        Atomics.store(control, 1, latency)
        Atomics.store(control, 0, mode)
        const started = Date.now()
        let err: unknown
        try {
          live.db.prepare('SELECT id, email FROM users WHERE id = ?').get((id += 300))
        } catch (e) {
          err = e
        }
        expect(isStrataError(err, 'STRATA_STORE_ERROR'), String(err)).toBe(true)
        const e = err as Error & { data: { key: string }; cause: unknown }
        expect(`${e.message} ${String((e.cause as Error | undefined)?.message)}`).toMatch(message)
        // Never a hang: the deadline (1.5 s, plus the VFS's grace) bounds a slow fetch.
        expect(Date.now() - started).toBeLessThan(6000)
        Atomics.store(control, 0, 0)
        Atomics.store(control, 1, 0)
      }
      // Nothing was committed by the failures; the uncommitted change is still there.
      expect((await t.repo.getBranch('work')).head).toBe(head)
      expect(userById(live, 1)).toEqual({ id: 1, email: 'changed@example.com' })
      // The same reads succeed once the store is healthy.
      for (const again of [1100, 1400, 1700]) expect(userById(live, again)).toEqual({ id: again, email: `user${again}@example.com` })
      const c = await live.commit({ message: 'after the faults' })
      expect(c.changed).toBe(true)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('a missing segment names the key and the snapshot; a corrupt one the page, snapshot and key', async () => {
    const t = await repoWithData()
    try {
      // No children fetched in the background after the open: one could read the page this test
      // damages before the damage, and the queries would then find it present and intact.
      const { live, repo } = await failing(t, { prefetchChildren: 0 })
      const m = await repo.snapshot(live.head)
      const segment = segmentKey(m.segments[m.segments.length - 1]!.id)
      // Damage the last segment in place: a bit flipped in its first page.
      const path = join(t.storeDir, ...segment.split('/'))
      const { readFileSync, writeFileSync } = await import('node:fs')
      const bytes = readFileSync(path)
      const lastPage = m.pageCount
      bytes[bytes.length - 4096 + 100]! ^= 0xff
      writeFileSync(path, bytes)
      let err: unknown
      try {
        live.db.prepare('SELECT * FROM kv ORDER BY k DESC LIMIT 1').get()
        live.db.prepare('SELECT sum(length(data)) FROM attachments').get()
        live.db.prepare('SELECT count(*) FROM orders').get()
      } catch (e) {
        err = e
      }
      expect(isStrataError(err, 'STRATA_CORRUPT_PAGE'), String(err)).toBe(true)
      expect((err as { data: { key: string; snapshot: string; pageNo: number } }).data).toMatchObject({ key: segment, snapshot: live.head })
      expect((err as Error).message).toContain(segment)
      expect(lastPage).toBeGreaterThan(0)

      await rm(path)
      let missing: unknown
      try {
        live.db.prepare('SELECT count(*), sum(length(data)) FROM attachments').get()
        live.db.prepare('SELECT count(*) FROM orders WHERE qty > 0').get()
        live.db.prepare('SELECT * FROM kv').all()
      } catch (e) {
        missing = e
      }
      expect(isStrataError(missing, 'STRATA_MISSING_OBJECT'), String(missing)).toBe(true)
      expect((missing as Error).message).toContain(segment)
      expect((missing as Error).message).toContain(live.head)
      await live.close({ uncommitted: 'discard' })
    } finally {
      await t.cleanup()
    }
  })
})
