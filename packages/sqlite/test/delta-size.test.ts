import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { openBranch } from '../src/index.js'
import { makeRepo } from './helpers.js'

const MiB = 1024 * 1024

/** Every file under `dir` (relative path → size). */
async function files(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const p = join(e.parentPath, e.name)
    out.set(relative(dir, p), (await stat(p)).size)
  }
  return out
}

describe('the stored delta of a small change', () => {
  for (const mode of ['file', 'memory'] as const) {
    it(`is a handful of pages for one changed row of a 32 MiB database (${mode} mode)`, async () => {
      const t = await makeRepo({ counting: true })
      try {
        const src = join(t.dir, 'big.sqlite')
        const db = new Database(src)
        db.exec(`
          CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL, payload BLOB NOT NULL);
          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8192)
          INSERT INTO items SELECT i, 'item ' || i, randomblob(3900) FROM n;
          CREATE INDEX items_label ON items(label);
        `)
        db.close()
        const size = (await stat(src)).size
        expect(size).toBeGreaterThanOrEqual(32 * MiB)
        await t.repo.importDatabase(src)
        await t.repo.createBranch('edit')

        const live = await openBranch(t.repo, 'edit', { mode, cacheDir: t.cacheDir })
        live.db.prepare(`UPDATE items SET label = 'edited' WHERE id = 4242`).run()
        const before = await files(t.storeDir)
        t.counting!.reset()
        const c = await live.commit({ message: 'one row' })

        expect(c.changed).toBe(true)
        // File mode reads the few changed pages from the WAL; memory mode hashes every page.
        expect(c.pagesScanned).toBe(mode === 'file' ? c.pagesChanged : size / 4096)
        // The row's table leaf and a few index pages (the label moved); in memory mode (rollback
        // journal) page 1 too, for its change counter.
        expect(c.pagesChanged).toBeGreaterThanOrEqual(mode === 'file' ? 1 : 2)
        expect(c.pagesChanged).toBeLessThanOrEqual(8)
        expect(c.pagesUploaded).toBe(c.pagesChanged)
        expect(c.ownPages).toBe(c.pagesChanged)
        expect(t.counting!.bytesWritten).toBeLessThan(64 * 1024)
        // The commit compared hashes from manifests: it downloaded no page.
        expect(t.counting!.log.filter((x) => x.operation === 'get' && x.key.startsWith('segments/'))).toEqual([])

        const after = await files(t.storeDir)
        let added = 0
        for (const [key, bytes] of after) if (!before.has(key) && !key.startsWith('.')) added += bytes
        expect(added).toBeGreaterThan(0)
        expect(added).toBeLessThan(64 * 1024)
        expect(added / size).toBeLessThan(0.002)
        await live.close()
      } finally {
        await t.cleanup()
      }
    })
  }
})
