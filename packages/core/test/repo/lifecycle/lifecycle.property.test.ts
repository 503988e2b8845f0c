import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Repository, SnapshotId } from '../../../src/index.js'
import { syntheticDb, tempRepo, testPage, writeDb } from '../../helpers.js'
import { EAGER, keysNeededBy, keysOf } from './lifecycle-helpers.js'

// Model-based test of the storage lifecycle: random create / commit / delete / materialize /
// reset / gc sequences run against a repository on the local store and against a model (branch
// name → database bytes, snapshot id → database bytes). After every gc (grace 0, short
// retention, compaction on or off) every live branch must read back exactly as the model says
// and verify must find nothing; at the end, with every branch but main deleted, gc must leave
// exactly main's objects.

const PS = 512
const NAMES = ['main', 'a', 'b', 'a/x'] as const
const BASE_PAGES = 8
const fillOf = (p: number) => p % 4

type Op =
  | { kind: 'create'; name: number; from: number }
  | { kind: 'commit'; branch: number; writes: [number, number][]; count: number }
  | { kind: 'delete'; branch: number }
  | { kind: 'materialize'; branch: number }
  | { kind: 'reset'; branch: number; back: number }
  | { kind: 'gc'; keepLast: number; compact: boolean }

const branchArb = fc.oneof({ arbitrary: fc.nat(1), weight: 4 }, { arbitrary: fc.nat(NAMES.length - 1), weight: 1 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('create' as const), name: branchArb, from: branchArb }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      branch: branchArb,
      writes: fc.array(fc.tuple(fc.integer({ min: 1, max: 10 }), fc.nat(3)), { minLength: 1, maxLength: 4 }),
      count: fc.oneof({ arbitrary: fc.integer({ min: 7, max: 10 }), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 1 }),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), branch: branchArb }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('materialize' as const), branch: branchArb }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('reset' as const), branch: branchArb, back: fc.integer({ min: 1, max: 2 }) }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('gc' as const),
      keepLast: fc.oneof({ arbitrary: fc.constant(1), weight: 2 }, { arbitrary: fc.integer({ min: 2, max: 3 }), weight: 1 }),
      compact: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.constant(false), weight: 1 }),
    }),
    weight: 3,
  },
)

/** What the runs exercised, so the property cannot pass by never reaching the interesting paths. */
const seen = { compacted: 0, resets: 0, swept: 0 }

interface Model {
  branches: Map<string, Uint8Array>
  /** Content of every snapshot the repository produced. */
  snapshots: Map<SnapshotId, Uint8Array>
}

describe('model-based: gc never loses a live page', () => {
  it('every live branch reads back as the model after every gc; at the end only main remains', { timeout: 300_000 }, async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 6, maxLength: 16, size: 'max' }), async (ops) => {
        runs++
        // Segments of 3 pages, so commits share and split segments and compaction has work.
        const t = await tempRepo({ segmentBytes: 3 * PS, maxRunBytes: 2 * PS })
        try {
          const base = syntheticDb(PS, BASE_PAGES, fillOf)
          const imported = await t.repo.importDatabase(await writeDb(t.dir, 'base.db', base))
          const model: Model = { branches: new Map([['main', base]]), snapshots: new Map([[imported.snapshot, base]]) }
          for (const op of ops) {
            await step(t.repo, model, op)
            if (op.kind !== 'gc') continue
            for (const [name, bytes] of model.branches) {
              expect(await t.repo.readDatabase(name), `branch ${name} after ${JSON.stringify(op)}`).toEqual(bytes)
            }
            expect((await t.repo.verify({ deep: true })).problems, `verify after ${JSON.stringify(op)}`).toEqual([])
          }
          for (const name of model.branches.keys()) if (name !== 'main') await t.repo.deleteBranch(name)
          await t.repo.gc(EAGER)
          const main = await t.repo.getBranch('main')
          expect(await keysOf(t.store)).toEqual(await keysNeededBy(t.store, [main]))
          expect(await t.repo.readDatabase('main')).toEqual(model.branches.get('main'))
        } finally {
          await t.cleanup()
        }
      }),
      { numRuns: 60 },
    )
    expect(runs).toBeGreaterThanOrEqual(60)
    expect(seen.compacted).toBeGreaterThan(0)
    expect(seen.resets).toBeGreaterThan(0)
    expect(seen.swept).toBeGreaterThan(0)
  })
})

async function step(repo: Repository, model: Model, op: Op): Promise<void> {
  const remember = (id: SnapshotId, bytes: Uint8Array) => model.snapshots.set(id, bytes)
  switch (op.kind) {
    case 'create': {
      const name = NAMES[op.name]!
      const from = NAMES[op.from]!
      if (model.branches.has(name) || !model.branches.has(from)) return
      await repo.createBranch(name, { from })
      model.branches.set(name, model.branches.get(from)!.slice())
      return
    }
    case 'commit': {
      const name = NAMES[op.branch]!
      const current = model.branches.get(name)
      if (!current) return
      const oldCount = current.length / PS
      const writes = new Map<number, Uint8Array>()
      for (const [p, fill] of op.writes) if (p <= op.count) writes.set(p, testPage(PS, fill, p))
      for (let p = oldCount + 1; p <= op.count; p++) if (!writes.has(p)) writes.set(p, testPage(PS, 3 - fillOf(p), p))
      const r = await repo.commit(name, { writes, pageCount: op.count })
      const next = new Uint8Array(op.count * PS)
      next.set(current.subarray(0, Math.min(current.length, next.length)))
      for (const [p, page] of writes) next.set(page, (p - 1) * PS)
      model.branches.set(name, next)
      remember(r.snapshot, next)
      return
    }
    case 'delete': {
      const name = NAMES[op.branch]!
      if (name === 'main' || !model.branches.has(name)) return
      await repo.deleteBranch(name)
      model.branches.delete(name)
      return
    }
    case 'materialize': {
      const name = NAMES[op.branch]!
      if (!model.branches.has(name)) return
      const r = await repo.materialize(name)
      remember(r.snapshot, model.branches.get(name)!)
      return
    }
    case 'reset': {
      const name = NAMES[op.branch]!
      if (!model.branches.has(name)) return
      const log = await repo.log(name)
      const to = log[op.back]
      if (!to) return
      const bytes = model.snapshots.get(to.id)
      expect(bytes, `content of ${to.id} is known`).toBeDefined()
      const r = await repo.reset(name, to.id)
      model.branches.set(name, bytes!)
      remember(r.snapshot, bytes!)
      seen.resets++
      return
    }
    case 'gc': {
      // Aggressive thresholds (any dead page; any two part-filled segments) so compaction runs often.
      const compact = op.compact && { minLiveFraction: 0.99, smallSegmentBytes: 3 * PS, minSmallSegments: 2 }
      const r = await repo.gc({ graceMs: 0, retention: { keepLast: op.keepLast, keepWithinMs: 0 }, compact })
      for (const c of r.compacted) remember(c.snapshot, model.snapshots.get(c.previous)!)
      seen.compacted += r.compacted.length
      seen.swept += r.freed.objects
      return
    }
  }
}
