import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { isStrataError } from '@strata/core'
import { describe, expect, it } from 'vitest'
import { importLiveDatabase, integrityCheck, openBranch } from '../src/index.js'
import { contentSummary } from './content.js'
import { applyChanges, buildDatabase, exportBytes, makeRepo } from './helpers.js'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

/** Header fields a copy through the backup API may change: change counter, schema cookie, version-valid-for. */
const COPY_FIELDS = new Set([24, 25, 26, 27, 40, 41, 42, 43, 92, 93, 94, 95])

describe('importLiveDatabase', () => {
  it('imports what SQLite sees of a WAL database whose WAL another connection holds un-checkpointed', async () => {
    const t = await makeRepo()
    try {
      const src = join(t.dir, 'live.sqlite')
      buildDatabase(src, { scale: 0.2, journalMode: 'wal' })
      const holder = new Database(src)
      holder.pragma('wal_autocheckpoint = 0')
      applyChanges(holder)
      const expected = contentSummary(holder)
      const mainFile = await readFile(src)
      const walBytes = (await stat(`${src}-wal`)).size
      expect(walBytes).toBeGreaterThan(100_000)
      await expect(t.repo.importDatabase(src)).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_INVALID_DATABASE'))

      const result = await importLiveDatabase(t.repo, src, { branch: 'main', message: 'live import', author: 'ops' })
      expect(result.branch).toBe('main')
      const [entry] = await t.repo.log('main')
      expect(entry).toMatchObject({ message: 'live import', author: 'ops' })

      const live = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
      expect(contentSummary(live.db)).toEqual(expected)
      expect(integrityCheck(live.db)).toEqual({ ok: true, messages: ['ok'] })
      expect(live.db.pragma('journal_mode', { simple: true })).toBe('wal')
      await live.close()

      // The source was only read: its main file and WAL are as they were, and the holder goes on.
      expect((await readFile(src)).equals(mainFile)).toBe(true)
      expect((await stat(`${src}-wal`)).size).toBe(walBytes)
      holder.exec(`INSERT INTO audit (at, what) VALUES (1, 'after import')`)
      holder.close()
    } finally {
      await t.cleanup()
    }
  })

  it('rolls back a hot journal through SQLite and imports the last committed state', async () => {
    const t = await makeRepo()
    try {
      const src = join(t.dir, 'crashed.sqlite')
      buildDatabase(src, { scale: 0.2, journalMode: 'delete' })
      const original = await readFile(src)
      const ro = new Database(src, { readonly: true })
      const expected = contentSummary(ro)
      ro.close()

      // A writer with a tiny page cache spills its uncommitted changes into the main file, then dies.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const Database = require('better-sqlite3')
           const db = new Database(${JSON.stringify(src)})
           db.pragma('cache_size = 8')
           db.exec('BEGIN')
           db.exec("UPDATE orders SET qty = qty + 100; UPDATE users SET name = upper(name) || ' changed'")
           process.stdout.write('ready\\n')
           setInterval(() => {}, 1000)`,
        ],
        { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
      )
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
        child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)))
      })
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('close', resolve))

      // Really hot: a non-empty journal, a torn main file, and SQLite insists on a rollback.
      expect((await stat(`${src}-journal`)).size).toBeGreaterThan(0)
      expect((await readFile(src)).equals(original)).toBe(false)
      const probe = new Database(src, { readonly: true })
      expect(() => probe.prepare('SELECT count(*) FROM orders').get()).toThrow(expect.objectContaining({ code: 'SQLITE_READONLY_ROLLBACK' }))
      probe.close()
      await expect(t.repo.importDatabase(src)).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_INVALID_DATABASE'))

      await importLiveDatabase(t.repo, src, { branch: 'recovered' })
      const live = await openBranch(t.repo, 'recovered', { mode: 'memory' })
      expect(contentSummary(live.db)).toEqual(expected)
      expect(integrityCheck(live.db).ok).toBe(true)
      await live.close()
      // SQLite's rollback restored the file; the journal is gone.
      expect((await readFile(src)).equals(original)).toBe(true)
      await expect(stat(`${src}-journal`)).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      await t.cleanup()
    }
  })

  it('keeps the page layout of a quiescent file: only page 1 bookkeeping fields differ', async () => {
    const t = await makeRepo()
    try {
      const src = join(t.dir, 'quiet.sqlite')
      buildDatabase(src, { scale: 0.1, pageSize: 1024 })
      const db = new Database(src)
      db.exec('DELETE FROM orders WHERE id % 2 = 0')
      expect(db.pragma('freelist_count', { simple: true })).toBeGreaterThan(0)
      db.close()
      const original = await readFile(src)
      await importLiveDatabase(t.repo, src)
      const stored = await exportBytes(t.repo, 'main', t.dir)
      expect(stored.byteLength).toBe(original.byteLength)
      const differing: number[] = []
      for (let i = 0; i < stored.byteLength; i++) if (stored[i] !== original[i]) differing.push(i)
      expect(differing.every((i) => COPY_FIELDS.has(i))).toBe(true)
    } finally {
      await t.cleanup()
    }
  })

  it('refuses what is not a database, a missing file and a taken branch name, writing nothing', async () => {
    const t = await makeRepo()
    try {
      const junk = join(t.dir, 'junk.sqlite')
      await writeFile(junk, randomBytes(8192))
      await expect(importLiveDatabase(t.repo, junk)).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_INVALID_DATABASE'))
      await expect(importLiveDatabase(t.repo, join(t.dir, 'missing.sqlite'))).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_INVALID_DATABASE'))
      expect(await t.repo.listBranches()).toEqual([])
      const src = join(t.dir, 'ok.sqlite')
      buildDatabase(src, { scale: 0.05 })
      await importLiveDatabase(t.repo, src)
      await expect(importLiveDatabase(t.repo, src)).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_BRANCH_EXISTS'))
    } finally {
      await t.cleanup()
    }
  })
})
