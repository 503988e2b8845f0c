import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { integrityCheck, openBranch } from '../src/index.js'
import { contentSummary } from './content.js'
import { applyChanges, buildDatabase, exportBytes, makeRepo, readBranchInChild, rowCount } from './helpers.js'

for (const mode of ['file', 'memory', 'lazy'] as const) {
  describe(`a live branch in ${mode} mode`, () => {
    it('commits inserts, updates, deletes and DDL that a fresh process reads back identically, leaving the parent untouched', async () => {
      const t = await makeRepo()
      try {
        const src = join(t.dir, 'source.sqlite')
        buildDatabase(src)
        const check = new Database(src, { readonly: true })
        const overflow = (check.prepare(`SELECT count(*) AS n FROM dbstat WHERE name = 'attachments' AND pagetype = 'overflow'`).get() as { n: number }).n
        check.close()
        expect(overflow).toBeGreaterThan(100)
        expect(rowCount()).toBeGreaterThanOrEqual(20_000)

        const original = await readFile(src)
        await t.repo.importDatabase(src)
        const mainBefore = await exportBytes(t.repo, 'main', t.dir)
        expect(mainBefore.equals(original)).toBe(true)
        await t.repo.createBranch('feature')

        const live = await openBranch(t.repo, 'feature', { mode, cacheDir: t.cacheDir })
        expect(live.mode).toBe(mode)
        const base = live.head
        expect(live.current).toBe('feature')
        expect(live.branches.current).toBe('feature')
        if (mode !== 'memory') expect(live.path && existsSync(live.path)).toBe(true)
        else expect(live.path).toBeNull()
        expect(await live.hasUncommittedChanges()).toBe(false)

        applyChanges(live.db)
        expect(await live.hasUncommittedChanges()).toBe(true)
        const expected = contentSummary(live.db)
        expect(expected.tables.kv).toBeUndefined()
        expect(expected.tables.audit!.rows).toBeGreaterThan(0)

        const c = await live.commit({ message: 'reshape', author: 'tester', tags: ['v1'] })
        expect(c.changed).toBe(true)
        expect(c.previous).toBe(base)
        expect(live.head).toBe(c.snapshot)
        expect(c.pagesChanged).toBeGreaterThan(0)
        // File and lazy mode read the changed pages from the WAL; memory mode hashes every page.
        if (mode !== 'memory') expect(c).toMatchObject({ via: 'wal' })
        if (mode !== 'memory') expect(c.pagesScanned).toBeLessThan(c.pageCount)
        else expect(c).toMatchObject({ via: 'full-scan', pagesScanned: c.pageCount })
        // A delta, not a copy: the base holds most pages.
        expect(c.ownPages).toBeLessThan(c.pageCount)
        expect(await live.hasUncommittedChanges()).toBe(false)

        const again = await live.commit({ message: 'nothing' })
        expect(again.changed).toBe(false)
        expect(again.snapshot).toBe(c.snapshot)
        expect(again.ownPages).toBe(c.ownPages)

        const [entry] = await t.repo.log('feature', { limit: 1 })
        expect(entry).toMatchObject({ message: 'reshape', author: 'tester', tags: ['v1'] })

        const workingPath = live.path
        expect(await live.close()).toBeNull()
        expect(live.closed).toBe(true)
        if (workingPath) expect(existsSync(workingPath)).toBe(false)

        const child = await readBranchInChild(t.storeDir, 'feature', mode, t.cacheDir)
        expect(child.head).toBe(c.snapshot)
        expect(child.integrity).toEqual({ ok: true, messages: ['ok'] })
        expect(child.summary).toEqual(expected)
        expect(child.dirty).toBe(false)
        expect(child.pageCount).toBe(c.pageCount)

        const mainAfter = await exportBytes(t.repo, 'main', t.dir)
        expect(mainAfter.equals(mainBefore)).toBe(true)
        const exported = join(t.dir, 'feature.sqlite')
        await t.repo.export('feature', exported)
        expect(integrityCheck(exported)).toEqual({ ok: true, messages: ['ok'] })
        // The child removed its working file too.
        if (mode !== 'memory') expect(await readdir(join(t.cacheDir, t.repo.storeId))).toEqual([])
        else expect(existsSync(t.cacheDir)).toBe(false)
      } finally {
        await t.cleanup()
      }
    })
  })
}
