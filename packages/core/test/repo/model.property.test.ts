import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isStrataError } from '../../src/index.js'
import { sameBytes, syntheticDb, tempRepo, testPage, writeDb } from '../helpers.js'

// Model-based test: random sequences of create / write+commit / delete / materialize (by reference
// or as a copy) run against a real repository on the local store and against a model (branch
// name → database bytes). After every step, every live branch must read back exactly as the
// model says. At the end, every branch that was never materialized is deleted (main, which
// cannot be, is materialized as a copy so its old snapshots go) and gc runs with grace 0 and
// no history: the by-reference snapshots then hold the only references to their ancestors'
// segments, and every live branch must still export byte-identical and pass `verify --deep`.

const PS = 512
const NAMES = ['main', 'a', 'b', 'a/x', 'c'] as const
const BASE_PAGES = 8
/** Fills come from a small range so writes often restore a page's base content. */
const fillOf = (p: number) => p % 4

type Op =
  | { kind: 'create'; name: number; from: number }
  | { kind: 'commit'; branch: number; writes: [number, number][]; count: number }
  | { kind: 'delete'; branch: number }
  | { kind: 'materialize'; branch: number; copy: boolean }

// Branch indexes are skewed towards the first few names so that operations meet on the same
// branches (commit, then commit again, then write a page back) rather than scatter.
const branchArb = fc.oneof({ arbitrary: fc.nat(2), weight: 4 }, { arbitrary: fc.nat(NAMES.length - 1), weight: 1 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('create' as const), name: branchArb, from: branchArb }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      branch: branchArb,
      writes: fc.array(fc.tuple(fc.integer({ min: 1, max: 10 }), fc.nat(3)), { maxLength: 5 }),
      count: fc.oneof({ arbitrary: fc.integer({ min: 7, max: 10 }), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 1 }),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), branch: branchArb }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('materialize' as const), branch: branchArb, copy: fc.boolean() }), weight: 2 },
)

describe('model-based: branches behave like independent copies', () => {
  it('every live branch reads back as the model after every step', { timeout: 300_000 }, async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 10 }), async (ops) => {
        runs++
        const t = await tempRepo({ segmentBytes: 3 * PS, maxRunBytes: 2 * PS })
        try {
          const base = syntheticDb(PS, BASE_PAGES, fillOf)
          await t.repo.importDatabase(await writeDb(t.dir, 'base.db', base))
          const model = new Map<string, Uint8Array>([['main', base]])
          const flattened = new Set<string>()
          for (const op of ops) {
            await step(t.repo, model, op, flattened)
            for (const [name, bytes] of model) {
              expect(await t.repo.readDatabase(name), `branch ${name} after ${JSON.stringify(op)}`).toEqual(bytes)
            }
            expect((await t.repo.listBranches()).map((b) => b.name).sort()).toEqual([...model.keys()].sort())
          }
          if (flattened.size === 0) return
          // Only the materialized branches (and main, itself flattened as a copy) survive.
          if (!flattened.has('main')) await t.repo.materialize('main', { copy: true })
          for (const name of [...model.keys()]) {
            if (name === 'main' || flattened.has(name)) continue
            await t.repo.deleteBranch(name)
            model.delete(name)
          }
          await t.repo.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } })
          for (const [name, bytes] of model) {
            const out = join(t.dir, `${name.replace('/', '_')}.db`)
            await t.repo.export(name, out)
            expect(sameBytes(await readFile(out), bytes, PS), `branch ${name} after gc, ops ${JSON.stringify(ops)}`).toBe(true)
          }
          const v = await t.repo.verify({ deep: true })
          expect(v.problems).toEqual([])
        } finally {
          await t.cleanup()
        }
      }),
      { numRuns: 200 },
    )
    expect(runs).toBeGreaterThanOrEqual(200)
  })
})

async function step(repo: Awaited<ReturnType<typeof tempRepo>>['repo'], model: Map<string, Uint8Array>, op: Op, flattened: Set<string>): Promise<void> {
  switch (op.kind) {
    case 'create': {
      const name = NAMES[op.name]!
      const from = NAMES[op.from]!
      if (model.has(name)) {
        await expect(repo.createBranch(name, { from })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_EXISTS') || isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
      } else if (!model.has(from)) {
        await expect(repo.createBranch(name, { from })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
      } else {
        await repo.createBranch(name, { from })
        model.set(name, model.get(from)!.slice())
      }
      return
    }
    case 'commit': {
      const name = NAMES[op.branch]!
      const current = model.get(name)
      if (!current) {
        await expect(repo.commit(name, { writes: [] })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
        return
      }
      const oldCount = current.length / PS
      const writes = new Map<number, Uint8Array>()
      for (const [p, fill] of op.writes) if (p <= op.count) writes.set(p, testPage(PS, fill, p))
      for (let p = oldCount + 1; p <= op.count; p++) if (!writes.has(p)) writes.set(p, testPage(PS, 3 - fillOf(p), p))
      await repo.commit(name, { writes, pageCount: op.count })
      const next = new Uint8Array(op.count * PS)
      next.set(current.subarray(0, Math.min(current.length, next.length)))
      for (const [p, page] of writes) next.set(page, (p - 1) * PS)
      model.set(name, next)
      return
    }
    case 'delete': {
      const name = NAMES[op.branch]!
      if (name === 'main') {
        await expect(repo.deleteBranch(name)).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_PROTECTED_BRANCH'))
      } else if (!model.has(name)) {
        await expect(repo.deleteBranch(name)).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
      } else {
        await repo.deleteBranch(name)
        model.delete(name)
        flattened.delete(name)
      }
      return
    }
    case 'materialize': {
      const name = NAMES[op.branch]!
      if (!model.has(name)) return
      const r = await repo.materialize(name, { copy: op.copy })
      const show = await repo.show(name)
      expect(show.fallback).toBeNull()
      // By reference, nothing of this store is rewritten: every page is a reference.
      expect(r.mode).toBe(op.copy ? 'copy' : 'reference')
      if (!op.copy) expect([r.pagesUploaded, r.pagesReferenced]).toEqual([0, r.ownPages])
      flattened.add(name)
      return
    }
  }
}

// Many branches, names that differ only in case, renames: the repository keeps one branch per
// case-folded name, and every branch reads back as the model.
type ManyOp =
  | { kind: 'create'; name: string; from: string }
  | { kind: 'createMany'; prefix: string; count: number; from: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'delete'; name: string }
  | { kind: 'commit'; name: string; page: number; fill: number }

const caseName = fc.tuple(fc.constantFrom('x', 'y', 'feat/a', 'z'), fc.nat(7)).map(([n, mask]) => [...n].map((c, i) => ((mask >> i) & 1 ? c.toUpperCase() : c)).join(''))
const anyName = fc.oneof(caseName, fc.constant('main'))
const manyOpArb: fc.Arbitrary<ManyOp> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('create' as const), name: caseName, from: anyName }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('createMany' as const), prefix: fc.constantFrom('bulk', 'Bulk', 'more'), count: fc.integer({ min: 10, max: 60 }), from: anyName }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('rename' as const), from: caseName, to: caseName }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), name: caseName }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('commit' as const), name: anyName, page: fc.integer({ min: 2, max: BASE_PAGES }), fill: fc.nat(3) }), weight: 2 },
)

describe('model-based: many branches and case twins', () => {
  it('one branch per case-folded name; every branch reads back as the model', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(manyOpArb, { minLength: 1, maxLength: 12 }), async (ops) => {
        const t = await tempRepo({ segmentBytes: 3 * PS, maxRunBytes: 2 * PS })
        try {
          const base = syntheticDb(PS, BASE_PAGES, fillOf)
          await t.repo.importDatabase(await writeDb(t.dir, 'base.db', base))
          const model = new Map<string, Uint8Array>([['main', base]])
          const twin = (name: string): string | undefined => [...model.keys()].find((n) => n.toLowerCase() === name.toLowerCase())
          const create = async (name: string, from: string): Promise<void> => {
            if (twin(name) !== undefined || !model.has(from)) {
              await expect(t.repo.createBranch(name, { from })).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_EXISTS') || isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
            } else {
              await t.repo.createBranch(name, { from })
              model.set(name, model.get(from)!.slice())
            }
          }
          for (const op of ops) {
            if (op.kind === 'create') await create(op.name, op.from)
            else if (op.kind === 'createMany') {
              for (let i = 0; i < op.count; i++) await create(`${op.prefix}/${i}`, op.from)
            } else if (op.kind === 'rename') {
              const other = twin(op.to)
              if (!model.has(op.from) || op.from === op.to || (other !== undefined && other !== op.from)) {
                await expect(t.repo.renameBranch(op.from, op.to)).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_EXISTS') || isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
              } else {
                await t.repo.renameBranch(op.from, op.to)
                model.set(op.to, model.get(op.from)!)
                model.delete(op.from)
              }
            } else if (op.kind === 'delete') {
              if (!model.has(op.name)) await expect(t.repo.deleteBranch(op.name)).rejects.toSatisfy((e) => isStrataError(e, 'STRATA_BRANCH_NOT_FOUND'))
              else {
                await t.repo.deleteBranch(op.name)
                model.delete(op.name)
              }
            } else if (model.has(op.name)) {
              await t.repo.commit(op.name, { writes: [[op.page, testPage(PS, op.fill, op.page)]] })
              model.get(op.name)!.set(testPage(PS, op.fill, op.page), (op.page - 1) * PS)
            }
            expect((await t.repo.listBranches()).map((b) => b.name).sort()).toEqual([...model.keys()].sort())
          }
          for (const [name, bytes] of model) expect(await t.repo.readDatabase(name), `branch ${name}`).toEqual(bytes)
        } finally {
          await t.cleanup()
        }
      }),
      { numRuns: 25 },
    )
  })
})
