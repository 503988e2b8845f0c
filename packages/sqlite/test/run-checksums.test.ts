import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '@strata/core'
import { segmentKey } from '@strata/core/engine'
import { openBranch } from '../src/index.js'
import { importedRepo } from './helpers.js'

// Segments carry run checksums, so a hydrating or lazy read verifies whole runs with one hash call;
// a damaged byte inside such a run must still be refused and named by page, snapshot and key.
for (const mode of ['file', 'memory', 'lazy'] as const) {
  it(`a ${mode}-mode open refuses a damaged byte inside a checksummed run, naming page, snapshot and key`, async () => {
    const t = await importedRepo(1)
    try {
      const head = (await t.repo.getBranch('main')).head
      const m = await t.repo.snapshot(head)
      const seg = m.segments[0]!
      expect(seg.runs).toBeDefined()
      // The page at slot 100 of the first segment, well inside its first runs.
      const e = m.pages.slots.findIndex((s, i) => s === 100 && m.pages.segments[i] === 0)
      const pageNo = m.pages.pageNos[e]!
      const key = segmentKey(seg.id)
      const path = join(t.storeDir, ...key.split('/'))
      const bytes = readFileSync(path)
      bytes[100 * m.pageSize + 7]! ^= 0x40
      writeFileSync(path, bytes)
      let err: unknown
      try {
        const live = await openBranch(t.repo, 'main', { mode, cacheDir: t.cacheDir })
        try {
          // Lazy mode fetches on demand: read every page.
          for (const { name } of live.db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table'`).all() as { name: string }[]) live.db.prepare(`SELECT * FROM "${name}"`).all()
        } finally {
          await live.close({ uncommitted: 'discard' }).catch(() => {})
        }
      } catch (x) {
        err = x
      }
      expect(isStrataError(err, 'STRATA_CORRUPT_PAGE'), String(err)).toBe(true)
      expect((err as { data: unknown }).data).toMatchObject({ key, snapshot: head, pageNo })
    } finally {
      await t.cleanup()
    }
  })
}
