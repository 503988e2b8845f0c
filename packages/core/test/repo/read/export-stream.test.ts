import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/errors/index.js'
import { Repository } from '../../../src/repo/repository.js'
import { sameBytes, syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const SIZE = 4096
const PAGES = 300

describe('exportStream', () => {
  it('hands over the bytes of the file export in page order, one bounded window at a time', async () => {
    const t = await tempRepo()
    try {
      const base = syntheticDb(SIZE, PAGES)
      base.fill(0, 40 * SIZE, 60 * SIZE) // zero pages: holes in a file export, zeros in the stream
      await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', base))
      await t.repo.createBranch('b')
      await t.repo.commit('b', { writes: [[5, testPage(SIZE, 0xee, 5)], [250, testPage(SIZE, 0xdd, 250)]] })
      // 2 × 64 KiB: windows of 32 pages, so the 300 pages take 10 of them.
      const repo = await Repository.open(t.store, { concurrency: 2, maxRunBytes: 64 * 1024 })
      await repo.export('b', join(t.dir, 'b.sqlite'))
      const chunks: Uint8Array[] = []
      const r = await repo.exportStream('b', async (c) => void chunks.push(c))
      expect(chunks.map((c) => c.byteLength)).toEqual([...Array.from({ length: 9 }, () => 32 * SIZE), 12 * SIZE])
      expect(sameBytes(Buffer.concat(chunks), await readFile(join(t.dir, 'b.sqlite')))).toBe(true)
      expect(r).toMatchObject({ branch: 'b', pageCount: PAGES, pageSize: SIZE, bytes: PAGES * SIZE })
    } finally {
      await t.cleanup()
    }
  })

  it('stops at a corrupt page: no unverified page is handed over, and the error is the engine’s', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, PAGES)))
      const [segment] = await readdir(join(t.store.root, 'segments'))
      const file = join(t.store.root, 'segments', segment!)
      const bytes = await readFile(file)
      bytes[200 * SIZE + 10]! ^= 0xff
      await writeFile(file, bytes)
      const repo = await Repository.open(t.store, { concurrency: 2, maxRunBytes: 64 * 1024 })
      let handed = 0
      const e = await repo.exportStream('main', async (c) => void (handed += c.byteLength)).catch((x: unknown) => x)
      expect(isStrataError(e, 'STRATA_CORRUPT_PAGE')).toBe(true)
      expect(handed).toBeLessThan(200 * SIZE)
      expect(handed % (32 * SIZE)).toBe(0)
    } finally {
      await t.cleanup()
    }
  })

  it('an error of the sink stops the export and comes back unchanged', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, PAGES)))
      const boom = Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC' })
      let calls = 0
      await expect(
        t.repo.exportStream('main', async () => {
          if (++calls === 1) throw boom
        }),
      ).rejects.toBe(boom)
      expect(calls).toBe(1)
    } finally {
      await t.cleanup()
    }
  })
})

describe('export to a path that cannot be used', () => {
  it('a missing directory is a FileError naming it; an existing file asks for overwrite by hint code', async () => {
    const t = await tempRepo()
    try {
      await t.repo.importDatabase(await writeDb(t.dir, 'db.sqlite', syntheticDb(SIZE, 4)))
      const missing = await t.repo.export('main', join(t.dir, 'no', 'such', 'x.db')).catch((e: unknown) => e)
      expect(missing).toMatchObject({ code: 'STRATA_FILE_ERROR', data: { problem: 'missing-directory', path: join(t.dir, 'no', 'such') } })
      const blocked = await t.repo.export('main', join(t.dir, 'db.sqlite', 'x.db')).catch((e: unknown) => e)
      expect(blocked).toMatchObject({ code: 'STRATA_FILE_ERROR', data: { problem: 'not-a-directory', path: join(t.dir, 'db.sqlite') } })
      const exists = await t.repo.export('main', join(t.dir, 'db.sqlite')).catch((e: unknown) => e)
      expect(exists).toMatchObject({ code: 'STRATA_INVALID_ARGUMENT', hint: 'overwrite' })
      expect((exists as Error).message).not.toMatch(/--/)
    } finally {
      await t.cleanup()
    }
  })
})
