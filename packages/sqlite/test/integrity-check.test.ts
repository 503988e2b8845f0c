import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { tempDir } from '@strata/core/testing'
import { describe, expect, it } from 'vitest'
import { integrityCheck } from '../src/index.js'
import { buildDatabase } from './helpers.js'

describe('integrityCheck', () => {
  it('reports ok for a sound file and an open database, and the problems of a damaged one', async () => {
    const dir = await tempDir('strata-integrity-')
    try {
      const path = join(dir.path, 'db.sqlite')
      buildDatabase(path, { scale: 0.05 })
      expect(integrityCheck(path)).toEqual({ ok: true, messages: ['ok'] })
      const db = new Database(path)
      expect(integrityCheck(db)).toEqual({ ok: true, messages: ['ok'] })

      const root = (db.prepare(`SELECT rootpage FROM sqlite_schema WHERE name = 'users_created'`).get() as { rootpage: number }).rootpage
      db.close()
      // Zero the cell content of an index page: its entries no longer match the table's rows.
      const bytes = await readFile(path)
      bytes.fill(0, (root - 1) * 4096 + 100, root * 4096 - 8)
      await writeFile(path, bytes)
      const damaged = integrityCheck(path, { maxErrors: 5 })
      expect(damaged.ok).toBe(false)
      expect(damaged.messages.length).toBeGreaterThan(0)
      expect(damaged.messages.length).toBeLessThanOrEqual(5)

      const junk = join(dir.path, 'junk.sqlite')
      await writeFile(junk, Buffer.alloc(4096, 7))
      const notADb = integrityCheck(junk)
      expect(notADb.ok).toBe(false)
      expect(notADb.messages[0]).toMatch(/SQLITE_NOTADB/)
      expect(() => integrityCheck(join(dir.path, 'missing.sqlite'))).toThrow(expect.objectContaining({ code: 'STRATA_INVALID_ARGUMENT' }))
    } finally {
      await dir.cleanup()
    }
  })
})
