import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../../src/errors/index.js'
import { segmentKey } from '../../../src/format/keys.js'
import type { SnapshotId } from '../../../src/format/ids.js'
import { Repository } from '../../../src/repo/repository.js'
import type { GetOptions, GetResult, ObjectStore } from '../../../src/store/object-store.js'
import { InterceptingStore } from '../../../src/testing/intercepting-store.js'
import type { StoreCall } from '../../../src/testing/store-call.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'

const SIZE = 1024
const PAGES = 600
const GROWN = 640
const DEPTH = 6

/**
 * A base of 600 pages under 6 stacked branches, each replacing scattered pages (single pages, a
 * pair, a page another level replaced too), one level zeroing a page and the top growing the
 * database past the base: the base's reads bridge the replaced pages, which the export fills
 * with the upper levels' pages. Returns the expected bytes of each level's database.
 */
async function deepChain(t: Awaited<ReturnType<typeof tempRepo>>): Promise<Uint8Array[]> {
  const base = syntheticDb(SIZE, PAGES)
  await t.repo.importDatabase(await writeDb(t.dir, 'base.sqlite', base))
  const expected = [base]
  let from = 'main'
  let bytes = base
  for (let level = 1; level <= DEPTH; level++) {
    const name = `lvl-${level}`
    await t.repo.createBranch(name, { from })
    const changed = [3 + level * 7, 50 + level * 13, 51 + level * 13, 200 + level * 29, 400 + level, 401 + 2 * level, 555]
    const writes: [number, Uint8Array][] = changed.map((p) => [p, testPage(SIZE, 0x40 + level, p)])
    if (level === 3) writes.push([300, new Uint8Array(SIZE)])
    let pageCount = bytes.byteLength / SIZE
    if (level === DEPTH) {
      pageCount = GROWN
      for (let p = PAGES + 1; p <= GROWN; p++) writes.push([p, testPage(SIZE, 0x70, p)])
    }
    const next = new Uint8Array(pageCount * SIZE)
    next.set(bytes)
    for (const [p, page] of writes) next.set(page, (p - 1) * SIZE)
    await t.repo.commit(name, { writes, pageCount })
    expected.push(next)
    bytes = next
    from = name
  }
  return expected
}

/** Run `body` on a fresh repository holding {@link deepChain}, removed afterwards. */
async function withDeepChain(body: (t: Awaited<ReturnType<typeof tempRepo>>, expected: Uint8Array[]) => Promise<void>): Promise<void> {
  const t = await tempRepo()
  try {
    await body(t, await deepChain(t))
  } finally {
    await t.cleanup()
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

describe('export of a deep chain', () => {
  it('writes every level byte for byte, the replaced pages filled into the base’s bridged reads', async () => {
    await withDeepChain(async (t, expected) => {
      // Small reads: the base is cut into many, each bridging a few replaced pages.
      const repo = await Repository.open(t.store, { concurrency: 3, maxRunBytes: 64 * 1024 })
      for (let level = 1; level <= DEPTH; level++) {
        const out = join(t.dir, `lvl-${level}.sqlite`)
        const r = await repo.export(`lvl-${level}`, out, { durable: level % 2 === 0 })
        expect(r.pageCount * SIZE).toBe(expected[level]!.byteLength)
        expect(same(await readFile(out), expected[level]!), `level ${level}`).toBe(true)
      }
      // The streamed export copies the wanted pages of the same bridged reads into its windows.
      const chunks: Uint8Array[] = []
      await repo.exportStream(`lvl-${DEPTH}`, async (c) => void chunks.push(c))
      expect(same(Buffer.concat(chunks), expected[DEPTH]!)).toBe(true)
    })
  })

  it('through a store that reads into its own buffers, the bridged reads are written around the replaced pages', async () => {
    await withDeepChain(async (t, expected) => {
      // The export may not write into a buffer the store owns: it writes the stretches between
      // the replaced pages, and the held pages on their own.
      await expectTopExports(t.dir, new OwnBuffers(t.store), expected[DEPTH]!)
    })
  })

  it('a damaged byte in a stale slot the export bridges is no error: the slot is not part of the database', async () => {
    await withDeepChain(async (t, expected) => {
      // Page 10 (replaced at level 1) stays in the base's segment, inside a read that bridges it.
      await damageSlotOf(t, (await t.repo.getBranch('main')).head, 10)
      await expectTopExports(t.dir, t.store, expected[DEPTH]!)
    })
  })

  for (const where of ['an upper level (a page fetched first and held)', 'the base, inside a bridged read'] as const) {
    it(`a damaged page in ${where} fails the export with CorruptPageError naming it, leaving no file`, async () => {
      await withDeepChain(async (t) => {
        const upper = where.startsWith('an upper')
        const snapshot = upper ? (await t.repo.getBranch('lvl-3')).head : (await t.repo.getBranch('main')).head
        // Page 89 (level 3's) and page 12 (the base's, between pages 10 and 17 of levels 1 and 2).
        const pageNo = upper ? 50 + 3 * 13 : 12
        const key = await damageSlotOf(t, snapshot, pageNo)
        const repo = await Repository.open(t.store, { concurrency: 3, maxRunBytes: 64 * 1024 })
        const outDir = join(t.dir, 'out')
        await mkdir(outDir)
        const e = await repo.export(`lvl-${DEPTH}`, join(outDir, 'top.sqlite')).catch((x: unknown) => x)
        expect(isStrataError(e, 'STRATA_CORRUPT_PAGE'), String(e)).toBe(true)
        expect((e as { data: unknown }).data).toMatchObject({ snapshot, pageNo, key })
        expect(await readdir(outDir)).toEqual([])
      })
    })
  }
})

/** Export the top level through `store` in small reads (many bridging replaced pages) and compare it with `expected`. */
async function expectTopExports(dir: string, store: ObjectStore, expected: Uint8Array): Promise<void> {
  const repo = await Repository.open(store, { concurrency: 3, maxRunBytes: 64 * 1024 })
  const out = join(dir, 'top.sqlite')
  await repo.export(`lvl-${DEPTH}`, out)
  expect(same(await readFile(out), expected)).toBe(true)
}

/** Ignores the buffer a reader lends: every read comes back in a buffer of the store's own. */
class OwnBuffers extends InterceptingStore {
  protected intercept<T>(_call: StoreCall, forward: () => Promise<T>): Promise<T> {
    return forward()
  }

  override get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    const { into: _lent, ...rest } = opts
    return this.inner.get(key, rest)
  }
}

/** Flip a byte of page `pageNo`'s slot in the segment snapshot `id` stores it in; returns the segment's key. */
async function damageSlotOf(t: Awaited<ReturnType<typeof tempRepo>>, id: SnapshotId, pageNo: number): Promise<string> {
  const m = await t.repo.snapshot(id)
  const e = m.pages.pageNos.indexOf(pageNo)
  expect(e).toBeGreaterThanOrEqual(0)
  const key = segmentKey(m.segments[m.pages.segments[e]!]!.id)
  const file = join(t.store.root, key)
  const bytes = await readFile(file)
  bytes[m.pages.slots[e]! * SIZE + 100]! ^= 0xff
  await writeFile(file, bytes)
  return key
}
