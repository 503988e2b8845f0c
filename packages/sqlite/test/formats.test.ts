import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { importLiveDatabase, integrityCheck, openBranch, type LiveMode } from '../src/index.js'
import { contentSummary } from './content.js'
import { applyChanges, blobFor, buildDatabase, exportBytes, makeRepo, type BuildOptions } from './helpers.js'

const CASES: (BuildOptions & { name: string })[] = [
  { name: '512-byte pages, DELETE journal', pageSize: 512, journalMode: 'delete', autoVacuum: 'none' },
  { name: '4096-byte pages, WAL, auto_vacuum=FULL', pageSize: 4096, journalMode: 'wal', autoVacuum: 'full' },
  { name: '65536-byte pages, WAL', pageSize: 65536, journalMode: 'wal', autoVacuum: 'none' },
  { name: '65536-byte pages, DELETE journal, auto_vacuum=FULL', pageSize: 65536, journalMode: 'delete', autoVacuum: 'full' },
]

describe('database formats', () => {
  for (const c of CASES) {
    for (const mode of ['file', 'memory'] as const) {
      it(`${c.name} (${mode} mode): no spurious changes, commits round-trip, the stored header mode is kept`, async () => {
        const t = await makeRepo()
        try {
          const src = join(t.dir, 'source.sqlite')
          buildDatabase(src, { ...c, scale: 0.2 })
          const wal = c.journalMode === 'wal'
          await importLiveDatabase(t.repo, src)
          const stored = await t.repo.readPage('main', 1)
          expect([stored[18], stored[19]]).toEqual(wal ? [2, 2] : [1, 1])
          const mainBefore = await exportBytes(t.repo, 'main', t.dir)
          await t.repo.createBranch('b')

          const live = await openBranch(t.repo, 'b', { mode, cacheDir: t.cacheDir })
          expect(live.db.pragma('page_size', { simple: true })).toBe(c.pageSize)
          expect(live.db.pragma('auto_vacuum', { simple: true })).toBe(c.autoVacuum === 'full' ? 1 : 0)
          // Working files always run in WAL mode (the change tracker reads the WAL); commits keep the stored bytes.
          expect(live.db.pragma('journal_mode', { simple: true })).toBe(mode === 'memory' ? 'memory' : 'wal')
          // Reading changes nothing, whatever the local copy's journal mode.
          contentSummary(live.db)
          expect(await live.hasUncommittedChanges()).toBe(false)
          expect((await live.commit()).changed).toBe(false)

          applyChanges(live.db)
          const pagesBeforeDelete = live.db.pragma('page_count', { simple: true }) as number
          live.db.exec('DELETE FROM attachments WHERE id % 2 = 0')
          if (c.autoVacuum === 'full') expect(live.db.pragma('page_count', { simple: true })).toBeLessThan(pagesBeforeDelete)
          const expected = contentSummary(live.db)
          const commit = await live.commit({ message: 'changes' })
          expect(commit.changed).toBe(true)
          await live.close()

          // Read back through the other mode.
          const other: LiveMode = mode === 'file' ? 'memory' : 'file'
          const again = await openBranch(t.repo, 'b', { mode: other, cacheDir: t.cacheDir })
          expect(again.head).toBe(commit.snapshot)
          expect(contentSummary(again.db)).toEqual(expected)
          expect(integrityCheck(again.db).ok).toBe(true)
          expect(await again.hasUncommittedChanges()).toBe(false)
          await again.close()

          const page1 = await t.repo.readPage('b', 1)
          expect([page1[18], page1[19]]).toEqual(wal ? [2, 2] : [1, 1])
          const exported = join(t.dir, 'b.sqlite')
          await t.repo.export('b', exported)
          expect(integrityCheck(exported)).toEqual({ ok: true, messages: ['ok'] })
          const reopened = new Database(exported, { readonly: true })
          expect(reopened.pragma('journal_mode', { simple: true })).toBe(wal ? 'wal' : 'delete')
          reopened.close()
          expect((await exportBytes(t.repo, 'main', t.dir)).equals(mainBefore)).toBe(true)
        } finally {
          await t.cleanup()
        }
      })
    }
  }
})

describe('page count changes', () => {
  for (const mode of ['file', 'memory'] as const) {
    it(`VACUUM shrinks a branch below its parent and inserts grow it past it (${mode} mode)`, async () => {
      const t = await makeRepo()
      try {
        const src = join(t.dir, 'source.sqlite')
        buildDatabase(src, { scale: 0.3 })
        await t.repo.importDatabase(src)
        const original = await readFile(src)
        const parentPages = original.byteLength / 4096
        await t.repo.createBranch('small')
        await t.repo.createBranch('big')

        const live = await openBranch(t.repo, 'small', { mode, cacheDir: t.cacheDir })
        live.db.exec('DELETE FROM attachments; DELETE FROM orders WHERE id % 2 = 0')
        const c1 = await live.commit({ message: 'delete' })
        expect(c1.pageCount).toBe(parentPages) // freed pages stay on the freelist
        live.db.exec('VACUUM')
        const expected = contentSummary(live.db)
        const c2 = await live.commit({ message: 'vacuum' })
        expect(c2.changed).toBe(true)
        expect(c2.pageCount).toBeLessThan(parentPages / 2)
        expect(await live.hasUncommittedChanges()).toBe(false)

        const sw = await live.branches.switch('big')
        expect(sw.commit).toBeNull()
        expect(live.db.pragma('page_count', { simple: true })).toBe(parentPages)
        const insert = live.db.prepare('INSERT INTO attachments (order_id, name, data) VALUES (?, ?, ?)')
        live.db.transaction(() => {
          for (let i = 0; i < 200; i++) insert.run(i, `grow-${i}`, blobFor(5000 + i, 16_000))
        })()
        const grown = contentSummary(live.db)
        const c3 = await live.commit({ message: 'grow' })
        expect(c3.pageCount).toBeGreaterThan(parentPages + 500)
        await live.close()

        for (const [branch, summary, pages] of [['small', expected, c2.pageCount], ['big', grown, c3.pageCount]] as const) {
          const r = await openBranch(t.repo, branch, { mode, cacheDir: t.cacheDir })
          expect(r.db.pragma('page_count', { simple: true })).toBe(pages)
          expect(contentSummary(r.db)).toEqual(summary)
          expect(integrityCheck(r.db).ok).toBe(true)
          await r.close()
        }
        expect((await exportBytes(t.repo, 'main', t.dir)).equals(original)).toBe(true)
      } finally {
        await t.cleanup()
      }
    })
  }
})
