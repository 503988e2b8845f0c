import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isStrataError } from '@strata/core'
import { describe, expect, it } from 'vitest'
import { openBranch } from '../src/index.js'
import { exportBytes, makeRepo, type TestRepo } from './helpers.js'

// LiveBranch.lend: another connection — here a better-sqlite3 one, standing for any program —
// works on the working file while the handle's is closed; the handle takes the file back.

async function withRepo(journal: 'wal' | 'delete', fn: (t: TestRepo) => Promise<void>): Promise<void> {
  const t = await makeRepo()
  try {
    const src = join(t.dir, 'src.sqlite')
    const db = new Database(src)
    db.pragma(`journal_mode = ${journal}`)
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t SELECT i, printf('row %d', i) FROM n")
    db.close()
    await t.repo.importDatabase(src)
    await fn(t)
  } finally {
    await t.cleanup()
  }
}

describe('LiveBranch.lend', () => {
  for (const journal of ['delete', 'wal'] as const) {
    it(`hands the file over as stored (${journal}), with uncommitted changes, and commits what the program left, byte for byte`, async () => {
      await withRepo(journal, async (t) => {
        const live = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
        live.db.exec("UPDATE t SET v = 'before lending' WHERE id = 1")
        const left = join(t.dir, 'left.sqlite')
        await live.lend(async (path) => {
          expect([...readFileSync(path).subarray(18, 20)]).toEqual(journal === 'wal' ? [2, 2] : [1, 1])
          const db = new Database(path)
          expect(db.prepare('SELECT v FROM t WHERE id = 1').pluck().get()).toBe('before lending')
          db.pragma('journal_mode = WAL')
          db.exec("INSERT INTO t (v) SELECT v || ' again' FROM t WHERE id <= 500")
          db.pragma('journal_mode = TRUNCATE')
          db.exec('DELETE FROM t WHERE id % 3 = 0')
          db.exec('VACUUM')
          db.pragma('journal_mode = PERSIST')
          db.exec("UPDATE t SET v = 'last' WHERE id = 2")
          db.close()
          copyFileSync(path, left)
        })
        const c = await live.commit({ message: 'after lending' })
        expect(c).toMatchObject({ changed: true, via: 'full-scan', fallback: 'the working file was lent to another program' })
        const stored = await exportBytes(t.repo, 'main', t.dir)
        const expected = readFileSync(left)
        // The program ended in a rollback mode; only the stored journal-mode bytes may differ.
        expected[18] = stored[18]!
        expected[19] = stored[19]!
        expect(stored.equals(expected)).toBe(true)

        // The handle goes on as before: SQL on its connection, commits from the WAL again.
        live.db.exec("UPDATE t SET v = 'afterwards' WHERE id = 4")
        expect(await live.commit()).toMatchObject({ changed: true, via: 'wal', pagesChanged: 1 })
        await live.close()
      })
    })
  }

  it('refuses a changed page size at commit, and nothing is committed', async () => {
    await withRepo('delete', async (t) => {
      const live = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
      const head = live.head
      await live.lend(async (path) => {
        const db = new Database(path)
        db.pragma('page_size = 8192')
        db.exec('VACUUM')
        db.close()
      })
      const e = await live.commit().catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_INVALID_STATE')).toBe(true)
      expect((e as Error).message).toMatch(/page size changed from 4096 to 8192/)
      expect((await t.repo.getBranch('main')).head).toBe(head)
      await live.close({ uncommitted: 'discard' })
    })
  })

  it('closes the handle when the file cannot be taken back, and rethrows that rather than the program’s result', async () => {
    await withRepo('delete', async (t) => {
      const live = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
      const head = live.head
      const e = await live.lend(async (path) => rmSync(path)).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_INVALID_STATE')).toBe(true)
      expect((e as Error).message).toMatch(/is gone/)
      expect(live.closed).toBe(true)
      expect((await t.repo.getBranch('main')).head).toBe(head)

      const again = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
      const notADatabase = await again.lend(async (path) => writeFileSync(path, Buffer.alloc(3 * 4096, 7))).catch((x: unknown) => x)
      expect(isStrataError(notADatabase, 'STRATA_INVALID_STATE')).toBe(true)
      expect((notADatabase as Error).message).toMatch(/SQLite cannot (open|read)/)
      expect(again.closed).toBe(true)
      expect((await t.repo.getBranch('main')).head).toBe(head)
    })
  })

  it('is refused in memory mode', async () => {
    await withRepo('delete', async (t) => {
      const live = await openBranch(t.repo, 'main', { mode: 'memory' })
      const e = await live.lend(async () => {}).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_INVALID_STATE')).toBe(true)
      await live.close()
    })
  })
})
