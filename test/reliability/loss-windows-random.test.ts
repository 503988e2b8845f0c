import { afterEach, describe, expect, it } from 'vitest'
import { Repository, isStrataError, type ObjectStore } from '@strata/core'
import { InterceptingStore, seededRandom, tempDir, type StoreCall } from '@strata/core/testing'
import { syntheticDb, writeDb } from './support/databases.js'
import { stampedPage } from './support/pages.js'
import { TARGETS } from './support/targets.js'

// Random interleavings of commit, expiry-gc, reset, rename, delete and branch create on a handful
// of branches. Each round runs two or three operations at once through a store that yields a
// seeded-random number of times before every call, so their store calls interleave differently
// each round. Afterwards: every commit reported successful is readable (on its branch, wherever
// a rename moved it, unless a delete or expiry that also succeeded removed the branch), every
// failure is a typed error of the kinds the operation documents, and `verify --deep` passes.

const PS = 512
const BRANCHES = 4
const ROUNDS: Record<string, number> = { LocalStore: 200, S3Store: 40 }
const SEED = 0x19_5eed

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Yields to the event loop a random number of times before each store call. */
class ScramblingStore extends InterceptingStore {
  constructor(
    inner: ObjectStore,
    readonly random: () => number,
  ) {
    super(inner)
  }

  protected async intercept<T>(_call: StoreCall, forward: () => Promise<T>): Promise<T> {
    // Mostly a few turns of the event loop; now and then a millisecond or two, which lets another
    // operation's whole store call happen in between.
    const r = this.random()
    if (r < 0.15) await new Promise((done) => setTimeout(done, 1 + Math.floor(r * 10)))
    else for (let n = Math.floor(r * 6); n > 0; n--) await new Promise((done) => setImmediate(done))
    return forward()
  }
}

type Op =
  | { op: 'commit'; name: string; page: number; counter: number }
  | { op: 'gc' }
  | { op: 'reset'; name: string; to: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'delete'; name: string }
  | { op: 'create'; name: string; from: string; ttl: boolean }

/** The error codes each operation may end with when it loses a race. */
const ALLOWED: Record<Op['op'], string[]> = {
  commit: ['STRATA_CONFLICT', 'STRATA_BRANCH_NOT_FOUND'],
  gc: [],
  reset: ['STRATA_CONFLICT', 'STRATA_BRANCH_NOT_FOUND', 'STRATA_MISSING_OBJECT', 'STRATA_SNAPSHOT_NOT_FOUND'],
  rename: ['STRATA_CONFLICT', 'STRATA_BRANCH_NOT_FOUND', 'STRATA_BRANCH_EXISTS'],
  delete: ['STRATA_CONFLICT', 'STRATA_BRANCH_NOT_FOUND'],
  create: ['STRATA_CONFLICT', 'STRATA_BRANCH_EXISTS', 'STRATA_MISSING_OBJECT', 'STRATA_SNAPSHOT_NOT_FOUND'],
}

for (const target of TARGETS) {
  describe(`random interleavings of commit, expiry, reset, rename and delete (${target.name})`, () => {
    it(`${ROUNDS[target.name]} rounds: no successful commit lost, every failure typed, verify --deep clean`, async () => {
      const t = await target.make()
      cleanups.push(() => t.cleanup())
      const dir = await tempDir('strata-loss-random-')
      cleanups.push(dir.cleanup)
      const random = seededRandom(SEED)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
      const repo = await Repository.init(t.store, { segmentBytes: 4 * PS })
      await repo.importDatabase(await writeDb(dir.path, 'db.sqlite', syntheticDb(PS, 12)))
      const scrambled = new ScramblingStore(t.store, random)
      let fresh = 0
      const commits: { branchId: string; snapshot: string; page: number; counter: number; round: number }[] = []
      /** Snapshots of branches that were deleted or moved on: targets that may be garbage by now. */
      const oldSnapshots: string[] = []
      const tally: Record<string, number> = {}

      for (let round = 0; round < ROUNDS[target.name]!; round++) {
        let live = (await repo.listBranches()).filter((b) => b.name !== 'main')
        while (live.length < BRANCHES) {
          await repo.createBranch(`b${fresh++}`, random() < 0.3 ? { ttlMs: 1 } : {})
          live = (await repo.listBranches()).filter((b) => b.name !== 'main')
        }
        const idOf = new Map(live.map((b) => [b.name, b.branchId]))
        const names = live.map((b) => b.name)
        const ops: Op[] = []
        for (let k = 2 + Math.floor(random() * 2); k > 0; k--) {
          const r = random()
          const name = pick(names)
          if (r < 0.35) ops.push({ op: 'commit', name, page: 2 + Math.floor(random() * 8), counter: round * 10 + k })
          else if (r < 0.5) ops.push({ op: 'gc' })
          else if (r < 0.65 && oldSnapshots.length > 0) ops.push({ op: 'reset', name, to: pick(oldSnapshots) })
          else if (r < 0.75) ops.push({ op: 'rename', from: name, to: `b${fresh++}` })
          else if (r < 0.9) ops.push({ op: 'delete', name })
          else ops.push({ op: 'create', name: `b${fresh++}`, from: oldSnapshots.length > 0 && random() < 0.7 ? pick(oldSnapshots) : name, ttl: random() < 0.3 })
        }
        for (const b of live) oldSnapshots.push(b.head)
        const results = await Promise.all(
          ops.map(async (o) => {
            const r = await Repository.open(scrambled)
            try {
              switch (o.op) {
                case 'commit':
                  return { o, ok: true as const, value: (await r.commit(o.name, { writes: [[o.page, stampedPage(PS, o.page, 1, o.counter)]] })).snapshot }
                case 'gc':
                  return { o, ok: true as const, value: (await r.gc({ graceMs: 0, compact: false })).expiredBranches }
                case 'reset':
                  return { o, ok: true as const, value: (await r.reset(o.name, o.to, { force: true })).snapshot }
                case 'rename':
                  return { o, ok: true as const, value: (await r.renameBranch(o.from, o.to)).branchId }
                case 'delete': {
                  const d = await r.deleteBranch(o.name)
                  return { o, ok: true as const, value: d.branchId, head: d.head }
                }
                case 'create':
                  return { o, ok: true as const, value: (await r.createBranch(o.name, { from: o.from, ...(o.ttl ? { ttlMs: 1 } : {}) })).head }
              }
            } catch (e) {
              const code = isStrataError(e) ? e.code : String(e)
              expect(ALLOWED[o.op], `round ${round}: ${JSON.stringify(o)} failed with ${code}: ${String(e)}`).toContain(code)
              return { o, ok: false as const, value: code }
            }
          }),
        )
        for (const r of results) tally[`${r.o.op} ${r.ok ? 'ok' : r.value}`] = (tally[`${r.o.op} ${r.ok ? 'ok' : r.value}`] ?? 0) + 1

        // The branches removed this round by an operation that reported success.
        const removed = new Set<string>()
        for (const r of results) {
          if (!r.ok) continue
          if (r.o.op === 'delete') removed.add(r.value as string)
          if (r.o.op === 'gc') for (const n of r.value as string[]) if (idOf.has(n)) removed.add(idOf.get(n)!)
        }
        // A delete that succeeded removed the head it saw: every commit to that branch that
        // succeeded this round is that head or behind it, never a head it did not see.
        for (const d of results) {
          if (!d.ok || d.o.op !== 'delete') continue
          const seen = (d as { head?: string }).head!
          let history: string[]
          try {
            history = (await repo.log(seen)).map((e) => e.id)
          } catch {
            continue // freed by a gc of this round: nothing left to compare with
          }
          for (const c of results) {
            if (!c.ok || c.o.op !== 'commit' || idOf.get(c.o.name) !== d.value) continue
            expect(history, `round ${round}: the delete of ${d.o.name} removed head ${seen}, which does not contain the successful commit ${c.value as string}`).toContain(c.value)
          }
        }
        const after = await repo.listBranches()
        const byId = new Map(after.map((b) => [b.branchId, b]))
        for (const r of results) {
          if (!r.ok || r.o.op !== 'commit') continue
          const o = r.o
          const branchId = idOf.get(o.name)!
          commits.push({ branchId, snapshot: r.value as string, page: o.page, counter: o.counter, round })
          const holder = byId.get(branchId)
          if (!holder) {
            expect(removed.has(branchId), `round ${round}: branch of the successful commit ${JSON.stringify(o)} vanished without a successful delete or expiry`).toBe(true)
            continue
          }
          const log = await repo.log(holder.name)
          expect(log.map((e) => e.id), `round ${round}: commit ${JSON.stringify(o)} is not in the history of ${holder.name}`).toContain(r.value)
        }
        // Every successful commit whose branch lives is readable, byte for byte.
        for (const c of commits) {
          if (c.round !== round || !byId.has(c.branchId)) continue
          expect(Buffer.from(await repo.readPage(c.snapshot, c.page)).equals(Buffer.from(stampedPage(PS, c.page, 1, c.counter))), `round ${round}: page ${c.page} of ${c.snapshot}`).toBe(true)
        }
      }
      // History is retained for 7 days, so every successful commit of a live branch is still there.
      const finalBranches = new Map((await repo.listBranches()).map((b) => [b.branchId, b]))
      for (const c of commits) {
        if (!finalBranches.has(c.branchId)) continue
        expect(Buffer.from(await repo.readPage(c.snapshot, c.page)).equals(Buffer.from(stampedPage(PS, c.page, 1, c.counter)))).toBe(true)
      }
      const verified = await (await Repository.open(t.store)).verify({ deep: true })
      expect(verified.problems).toEqual([])
      // Each kind of operation both won and lost some races.
      console.log(`${target.name}: ${JSON.stringify(tally)}`)
      for (const op of ['commit', 'gc', 'reset', 'rename', 'delete', 'create']) expect(tally[`${op} ok`] ?? 0, op).toBeGreaterThan(0)
    })
  })
}
