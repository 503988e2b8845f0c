import { describe, expect, it } from 'vitest'
import { CountingStore } from '@strata/core/testing'
import { Repository } from '../../../src/repo/repository.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

describe('manifest cache', () => {
  it('resolving a depth-32 chain reads each manifest once, however often it is resolved', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', syntheticDb(1024, 64)))
      let from = 'main'
      for (let depth = 1; depth <= 32; depth++) {
        const name = `level-${depth}`
        await t.repo.createBranch(name, { from })
        await t.repo.commit(name, { writes: [[2 + (depth % 60), testPage(1024, depth)]] })
        from = name
      }
      // A fresh repository over a counting store: nothing cached yet.
      const counting = new CountingStore(t.store)
      const repo = await Repository.open(counting)
      const head = (await repo.getBranch('level-32')).head
      const first = await repo.resolve(head, 'level-32')
      expect(first.levels).toHaveLength(33)
      const manifestReads = (): Map<string, number> => {
        const n = new Map<string, number>()
        for (const c of counting.log) if (c.operation === 'get' && c.key.startsWith('snapshots/')) n.set(c.key, (n.get(c.key) ?? 0) + 1)
        return n
      }
      expect(manifestReads().size).toBe(33)
      expect([...manifestReads().values()].every((n) => n === 1)).toBe(true)

      // Again, and again after other chains pushed it out of the resolved-table cache.
      await repo.resolve(head, 'level-32')
      for (let depth = 1; depth <= 8; depth++) await repo.resolve((await repo.getBranch(`level-${depth}`)).head)
      const again = await repo.resolve(head, 'level-32')
      expect(again.pageCount).toBe(first.pageCount)
      expect(manifestReads().size).toBe(33)
      expect([...manifestReads().values()].every((n) => n === 1)).toBe(true)
    } finally {
      await t.cleanup()
    }
  })
})
