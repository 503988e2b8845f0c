import { afterEach, describe, expect, it } from 'vitest'
import { Repository, type ObjectStore } from '@strata/core'
import { tempDir } from '@strata/core/testing'
import { syntheticDb, writeDb } from './support/databases.js'
import { checkRepository } from './support/oracle.js'
import { pagesOf, readStamp } from './support/pages.js'
import { runWorkersTogether } from './support/run-node.js'
import { TARGETS, type StoreTarget } from './support/targets.js'

const PAGE_SIZE = 512
const PAGES = 64
const WRITERS = 3
const PER_WRITER = 4
const COMMITS = 15

interface WriterReport {
  writer: number
  landed: { snapshot: string; counter: number; attempts: number }[]
  conflicts: number[]
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function prepare(target: StoreTarget): Promise<{ repo: Repository; base: Uint8Array; baseHead: string }> {
  const dir = await tempDir('strata-rel-')
  cleanups.push(dir.cleanup)
  const repo = await Repository.init(target.store, { segmentBytes: 4 * PAGE_SIZE })
  const base = syntheticDb(PAGE_SIZE, PAGES)
  await repo.importDatabase(await writeDb(dir.path, 'base.db', base))
  const b = await repo.createBranch('shared')
  return { repo, base, baseHead: b.head }
}

/**
 * Replay the branch's history oldest first against a model of what each writer last landed, and
 * check every snapshot's pages against it: each landed commit shows its own counter and the
 * latest counters of everyone before it — no commit was overwritten by a writer that had not
 * seen it.
 */
async function replayHistory(store: ObjectStore, reports: WriterReport[], baseHead: string, base: Uint8Array): Promise<{ entries: number }> {
  const repo = await Repository.open(store)
  const log = await repo.log('shared')
  const landed = new Map<string, { writer: number; counter: number }>()
  for (const r of reports) for (const l of r.landed) landed.set(l.snapshot, { writer: r.writer, counter: l.counter })
  // Exactly the landed commits, then the fork point.
  expect(log.map((e) => e.id).slice(0, -1).sort()).toEqual([...landed.keys()].sort())
  expect(log[log.length - 1]!.id).toBe(baseHead)
  const model = new Array<number>(WRITERS).fill(0)
  for (const entry of log.slice(0, -1).reverse()) {
    const who = landed.get(entry.id)!
    expect(who.counter, `writer ${who.writer} went backwards`).toBeGreaterThan(model[who.writer]!)
    model[who.writer] = who.counter
    const db = await repo.readDatabase(entry.id)
    for (let w = 0; w < WRITERS; w++) {
      for (const p of pagesOf(w, PER_WRITER)) {
        const page = db.subarray((p - 1) * PAGE_SIZE, p * PAGE_SIZE)
        if (model[w] === 0) expect(Buffer.from(page).equals(Buffer.from(base.subarray((p - 1) * PAGE_SIZE, p * PAGE_SIZE)))).toBe(true)
        else expect(readStamp(page), `snapshot ${entry.id} page ${p}`).toEqual({ pageNo: p, writer: w, counter: model[w] })
      }
    }
  }
  // Untouched pages are the base's.
  const head = await repo.readDatabase('shared')
  const owned = new Set(Array.from({ length: WRITERS }, (_, w) => pagesOf(w, PER_WRITER)).flat())
  for (let p = 1; p <= PAGES; p++) {
    if (owned.has(p)) continue
    expect(Buffer.from(head.subarray((p - 1) * PAGE_SIZE, p * PAGE_SIZE)).equals(Buffer.from(base.subarray((p - 1) * PAGE_SIZE, p * PAGE_SIZE)))).toBe(true)
  }
  return { entries: log.length }
}

for (const target of TARGETS) {
  describe(`concurrent writers on one branch (${target.name})`, () => {
    it(`${WRITERS} processes × ${COMMITS} guarded commits: each lands or fails with STRATA_CONFLICT, none is lost`, async () => {
      const t = await target.make()
      cleanups.push(t.cleanup)
      const { base, baseHead } = await prepare(t)
      const reports = await runWorkersTogether<WriterReport>(
        'committer.ts',
        Array.from({ length: WRITERS }, (_, writer) => ({ store: t.child, branch: 'shared', writer, pagesPerWriter: PER_WRITER, pageSize: PAGE_SIZE, commits: COMMITS, retry: false })),
      )
      const landed = reports.reduce((n, r) => n + r.landed.length, 0)
      const conflicts = reports.reduce((n, r) => n + r.conflicts.length, 0)
      expect(landed + conflicts).toBe(WRITERS * COMMITS)
      expect(landed).toBeGreaterThan(0)
      const { entries } = await replayHistory(t.store, reports, baseHead, base)
      expect(entries).toBe(landed + 1)
      await checkRepository(t.store)
      console.info(`[reliability] ${target.name}: ${WRITERS} writers × ${COMMITS} guarded commits → ${landed} landed, ${conflicts} STRATA_CONFLICT, 0 lost`)
    }, 120_000)

    it(`${WRITERS} processes × ${COMMITS} commits with commitWithRetry: every commit lands`, async () => {
      const t = await target.make()
      cleanups.push(t.cleanup)
      const { base, baseHead } = await prepare(t)
      const reports = await runWorkersTogether<WriterReport>(
        'committer.ts',
        Array.from({ length: WRITERS }, (_, writer) => ({ store: t.child, branch: 'shared', writer, pagesPerWriter: PER_WRITER, pageSize: PAGE_SIZE, commits: COMMITS, retry: true })),
      )
      for (const r of reports) expect(r.landed.map((l) => l.counter)).toEqual(Array.from({ length: COMMITS }, (_, i) => i + 1))
      const { entries } = await replayHistory(t.store, reports, baseHead, base)
      expect(entries).toBe(WRITERS * COMMITS + 1)
      await checkRepository(t.store)
      const retried = reports.flatMap((r) => r.landed).filter((l) => l.attempts > 1)
      console.info(
        `[reliability] ${target.name}: ${WRITERS} writers × ${COMMITS} commits with retry → all ${WRITERS * COMMITS} landed; ${retried.length} needed a rebase (max ${Math.max(1, ...retried.map((l) => l.attempts))} attempts)`,
      )
    }, 120_000)
  })
}
