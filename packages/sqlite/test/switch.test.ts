import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '@strata/core'
import { segmentKey } from '@strata/core/engine'
import { integrityCheck, openBranch, setFormatBytes, type LiveBranch } from '../src/index.js'
import { contentSummary } from './content.js'
import { buildDatabase, exportBytes, makeRepo, type BuildOptions, type TestRepo } from './helpers.js'

/** A repository (counting store calls) whose `main` holds a small realistic database, with sibling branches `a` and `b`. */
async function siblings(opts: BuildOptions = {}): Promise<TestRepo> {
  const t = await makeRepo({ counting: true })
  const src = join(t.dir, 'source.sqlite')
  buildDatabase(src, { scale: 0.3, ...opts })
  await t.repo.importDatabase(src)
  await t.repo.createBranch('a')
  await t.repo.createBranch('b')
  return t
}

/** The working database's current bytes with the stored header mode, as an export of its head would hold them. */
function imageOf(live: LiveBranch, stored: Buffer): Buffer {
  const image = live.db.serialize()
  setFormatBytes(image, { write: stored[18]!, read: stored[19]! })
  return image
}

/** Commit a change to `branch` through a handle of its own, without the segment cache. */
async function commitElsewhere(t: TestRepo, branch: string, sql: string): Promise<void> {
  const other = await openBranch(t.repo, branch, { cacheDir: join(t.dir, 'other-cache'), segmentCache: false })
  other.db.exec(sql)
  await other.commit({ message: sql })
  await other.close()
}

describe('switching a working file between branches', () => {
  it('rewrites only the pages that differ, and reads through the segment cache only what it lacks', async () => {
    const t = await siblings()
    try {
      await commitElsewhere(t, 'b', `UPDATE orders SET qty = qty + 100 WHERE id % 97 = 0`)
      const live = await openBranch(t.repo, 'a', { cacheDir: t.cacheDir, segmentCache: true })
      const path = live.path
      live.db.exec(`UPDATE users SET name = 'changed on a' WHERE id % 50 = 0`)
      await live.commit({ message: 'a' })

      // b's delta was committed elsewhere: the cache has main's segments (hydration) but not b's.
      t.counting!.reset()
      await live.branches.switch('b')
      const segmentReads = t.counting!.log.filter((c) => c.operation === 'get' && c.key.startsWith('segments/'))
      expect(live.path).toBe(path)
      const bBytes = await exportBytes(t.repo, 'b', t.dir)
      expect(imageOf(live, bBytes).equals(bBytes)).toBe(true)
      const bManifest = await t.repo.snapshot((await t.repo.getBranch('b')).head)
      expect(segmentReads.map((c) => c.key).sort()).toEqual(bManifest.segments.map((s) => segmentKey(s.id)).sort())

      // Both sides are cached now: switching back and forth reads no segment at all.
      t.counting!.reset()
      await live.branches.switch('a')
      await live.branches.switch('b')
      await live.branches.switch('a')
      expect(t.counting!.log.filter((c) => c.key.startsWith('segments/'))).toEqual([])
      expect(live.path).toBe(path)
      const aBytes = await exportBytes(t.repo, 'a', t.dir)
      expect(imageOf(live, aBytes).equals(aBytes)).toBe(true)
      expect(integrityCheck(live.db).ok).toBe(true)

      // The WAL tracker works on the rewritten file.
      live.db.exec(`UPDATE users SET name = 'again' WHERE id = 1`)
      const c = await live.commit({ message: 'after switches' })
      expect(c).toMatchObject({ changed: true, via: 'wal' })
      expect(c.pagesScanned).toBeLessThan(10)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('discards uncommitted changes, a shrink included, by rewriting those pages too', async () => {
    // With auto_vacuum, deleting rows shrinks the file at once (VACUUM would move nearly every page).
    const t = await siblings({ autoVacuum: 'full' })
    try {
      await commitElsewhere(t, 'b', `INSERT INTO kv VALUES ('only on b', 'yes')`)
      const live = await openBranch(t.repo, 'a', { cacheDir: t.cacheDir })
      const path = live.path
      const pages = live.db.pragma('page_count', { simple: true }) as number
      live.db.exec(`DELETE FROM attachments WHERE id > 60`)
      live.db.exec(`CREATE TABLE scratch (x); INSERT INTO scratch VALUES (1)`)
      expect(live.db.pragma('page_count', { simple: true })).toBeLessThan(pages)
      await expect(live.branches.switch('b')).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_UNCOMMITTED_CHANGES'))
      await live.branches.switch('b', { onUncommitted: 'discard' })
      expect(live.path).toBe(path)
      const bBytes = await exportBytes(t.repo, 'b', t.dir)
      expect(imageOf(live, bBytes).equals(bBytes)).toBe(true)
      expect(live.db.prepare(`SELECT v FROM kv WHERE k = 'only on b'`).get()).toEqual({ v: 'yes' })
      expect(await live.hasUncommittedChanges()).toBe(false)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('hydrates afresh for another page size', async () => {
    const t = await siblings()
    try {
      const src = join(t.dir, 'small-pages.sqlite')
      buildDatabase(src, { scale: 0.05, pageSize: 1024 })
      await t.repo.importDatabase(src, { branch: 'other' })
      const live = await openBranch(t.repo, 'a', { cacheDir: t.cacheDir })
      const path = live.path
      await live.branches.switch('other')
      expect(live.path).not.toBe(path)
      expect(live.db.pragma('page_size', { simple: true })).toBe(1024)
      const check = new Database(src, { readonly: true })
      expect(contentSummary(live.db)).toEqual(contentSummary(check))
      check.close()
      await live.close()
    } finally {
      await t.cleanup()
    }
  })

  it('leaves the handle where it was when a page cannot be fetched', async () => {
    const t = await siblings()
    try {
      await commitElsewhere(t, 'b', `UPDATE products SET price = price * 2`)
      const head = await t.repo.snapshot((await t.repo.getBranch('b')).head)
      await t.repo.store.delete(head.segments.map((s) => segmentKey(s.id)))
      const live = await openBranch(t.repo, 'a', { cacheDir: t.cacheDir })
      const db = live.db
      const before = contentSummary(db)
      const err = await live.branches.switch('b').catch((e: unknown) => e)
      expect(isStrataError(err, 'STRATA_MISSING_OBJECT')).toBe(true)
      expect(live.current).toBe('a')
      expect(live.db).toBe(db)
      expect(contentSummary(live.db)).toEqual(before)
      live.db.exec(`UPDATE users SET name = 'still a' WHERE id = 2`)
      expect(await live.commit()).toMatchObject({ changed: true, via: 'wal' })
      await live.close()
    } finally {
      await t.cleanup()
    }
  })
})
