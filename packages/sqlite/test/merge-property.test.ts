import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { LocalStore, Repository, isStrataError, type ObjectStore } from '@strata/core'
import { InterceptingStore, tempDir, type StoreCall, type TempDir } from '@strata/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { merge, openBranch, type MergeConflict } from '../src/index.js'
import { commitSql } from './helpers.js'

/** Runs `hook` once, before the first `put` after {@link arm}: a commit by someone else, mid-merge. */
class HookStore extends InterceptingStore {
  #hook: (() => Promise<void>) | null = null
  arm(hook: () => Promise<void>): void {
    this.#hook = hook
  }
  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    const hook = this.#hook
    if (hook && call.operation === 'put') {
      this.#hook = null
      await hook()
    }
    return forward()
  }
}

const ROWS = 40
let tmp: TempDir
let store: HookStore
let repo: Repository
let baseFile: string
let n = 0

/** One edit of a row: set column a or b, delete it, or insert a new key. */
type Edit = { op: 'set'; id: number; col: 'a' | 'b'; value: string } | { op: 'delete'; id: number } | { op: 'insert'; id: number; a: string; b: number }

function sqlOf(e: Edit): [string, unknown[]] {
  if (e.op === 'set') return [`UPDATE t SET ${e.col} = ? WHERE id = ?`, [e.col === 'a' ? e.value : e.value.length, e.id]]
  if (e.op === 'delete') return ['DELETE FROM t WHERE id = ?', [e.id]]
  return ['INSERT OR REPLACE INTO t (id, a, b) VALUES (?, ?, ?)', [e.id, e.a, e.b]]
}

function applyEdits(db: Database.Database, edits: readonly Edit[]): void {
  db.transaction(() => {
    for (const e of edits) {
      const [sql, args] = sqlOf(e)
      db.prepare(sql).run(...args)
    }
  })()
}

function commitEdits(branch: string, edits: readonly Edit[]): Promise<void> {
  return commitSql(repo, branch, (db) => applyEdits(db, edits))
}

/** Edits of the keys in `keys` (existing rows) and inserts of keys in `fresh`. */
function editsOf(keys: readonly number[], fresh: readonly number[], tag: string): fc.Arbitrary<Edit[]> {
  const existing = keys.length
    ? fc.oneof(
        fc.record({ op: fc.constant('set' as const), id: fc.constantFrom(...keys), col: fc.constantFrom('a' as const, 'b' as const), value: fc.string({ maxLength: 6 }).map((s) => `${tag}${s}`) }),
        fc.record({ op: fc.constant('delete' as const), id: fc.constantFrom(...keys) }),
      )
    : null
  const inserts = fresh.length ? fc.record({ op: fc.constant('insert' as const), id: fc.constantFrom(...fresh), a: fc.string({ maxLength: 6 }).map((s) => `${tag}${s}`), b: fc.integer({ min: -5, max: 5 }) }) : null
  const one = existing && inserts ? fc.oneof(existing, inserts) : (existing ?? inserts)!
  return fc.array(one, { minLength: 1, maxLength: 12 })
}

/** The rows only one of `schema` x and y holds, compared in SQL (sqldiff-style, both directions). */
function differences(db: Database.Database, x: string, y: string): number {
  const q = (a: string, b: string): string => `SELECT id, a, b FROM ${a}.t EXCEPT SELECT id, a, b FROM ${b}.t`
  return (db.prepare(`SELECT count(*) AS n FROM (${q(x, y)} UNION ALL ${q(y, x)})`).get() as { n: number }).n
}

beforeAll(async () => {
  tmp = await tempDir('strata-merge-prop-')
  store = new HookStore(new LocalStore(join(tmp.path, 'store')))
  repo = await Repository.init(store as ObjectStore)
  baseFile = join(tmp.path, 'base.sqlite')
  const db = new Database(baseFile)
  db.pragma('journal_mode = DELETE')
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER); CREATE TABLE other (x); INSERT INTO other VALUES (1)')
  const ins = db.prepare('INSERT INTO t VALUES (?, ?, ?)')
  for (let i = 1; i <= ROWS; i++) ins.run(i, `row ${i}`, i)
  db.close()
  await repo.importDatabase(baseFile)
})
afterAll(async () => {
  await tmp.cleanup()
})

describe('merge (property)', () => {
  it('edits to disjoint keys: the merged table equals both edit sequences applied one after the other', async () => {
    const keys = Array.from({ length: ROWS }, (_, i) => i + 1)
    const split = fc.shuffledSubarray(keys).map((mine) => ({ ours: mine.slice(0, Math.ceil(mine.length / 2)), theirs: mine.slice(Math.ceil(mine.length / 2)) }))
    const scenario = split.chain(({ ours, theirs }) =>
      fc.record({ ours: editsOf(ours, [101, 102, 103], 'o:'), theirs: editsOf(theirs, [201, 202, 203], 't:') }),
    )
    await fc.assert(
      fc.asyncProperty(scenario, async ({ ours, theirs }) => {
        const id = ++n
        await repo.createBranch(`p-target-${id}`)
        await repo.createBranch(`p-source-${id}`)
        await commitEdits(`p-target-${id}`, ours)
        await commitEdits(`p-source-${id}`, theirs)
        const r = await merge(repo, `p-source-${id}`, `p-target-${id}`)
        expect(r.conflicts).toEqual([])
        // The oracle: the base with both sequences applied in turn.
        const oracle = join(tmp.path, `oracle-${id}.sqlite`)
        copyFileSync(baseFile, oracle)
        const merged = join(tmp.path, `merged-${id}.sqlite`)
        await repo.export(`p-target-${id}`, merged)
        const db = new Database(oracle)
        try {
          applyEdits(db, ours)
          applyEdits(db, theirs)
          db.prepare('ATTACH DATABASE ? AS merged').run(merged)
          expect(differences(db, 'main', 'merged')).toBe(0)
          expect(db.prepare('PRAGMA merged.integrity_check').pluck().all()).toEqual(['ok'])
        } finally {
          db.close()
        }
      }),
      { numRuns: 10 },
    )
  })

  it('edits to overlapping keys: every overlapping key is a conflict and nothing is committed', async () => {
    const scenario = fc
      .uniqueArray(fc.integer({ min: 1, max: ROWS }), { minLength: 1, maxLength: 6 })
      .chain((overlap) =>
        fc.record({
          overlap: fc.constant(overlap),
          // Per overlapping key: both set a to different values, or one deletes while the other sets a.
          how: fc.array(fc.constantFrom('set/set', 'delete/set', 'set/delete'), { minLength: overlap.length, maxLength: overlap.length }),
          extra: editsOf([ROWS - 1, ROWS].filter((k) => !overlap.includes(k)), [301], 't:'),
        }),
      )
    await fc.assert(
      fc.asyncProperty(scenario, async ({ overlap, how, extra }) => {
        const id = ++n
        const ours: Edit[] = []
        const theirs: Edit[] = [...extra]
        overlap.forEach((k, i) => {
          const [o, t] = how[i]!.split('/')
          ours.push(o === 'set' ? { op: 'set', id: k, col: 'a', value: `o:${k}` } : { op: 'delete', id: k })
          theirs.push(t === 'set' ? { op: 'set', id: k, col: 'a', value: `t:${k}` } : { op: 'delete', id: k })
        })
        await repo.createBranch(`q-target-${id}`)
        await repo.createBranch(`q-source-${id}`)
        await commitEdits(`q-target-${id}`, ours)
        await commitEdits(`q-source-${id}`, theirs)
        const head = (await repo.getBranch(`q-target-${id}`)).head
        const e = await merge(repo, `q-source-${id}`, `q-target-${id}`).catch((x: unknown) => x)
        expect(isStrataError(e, 'STRATA_MERGE_CONFLICT'), String(e)).toBe(true)
        const conflicts = (e as { data: { conflicts: MergeConflict[] } }).data.conflicts
        expect(conflicts.map((c) => c.key.id).sort((a, b) => Number(a) - Number(b))).toEqual([...overlap].sort((a, b) => a - b))
        expect(conflicts.every((c) => c.table === 't' && c.resolution === null)).toBe(true)
        expect((await repo.getBranch(`q-target-${id}`)).head).toBe(head)
      }),
      { numRuns: 10 },
    )
  })

  it('a concurrent commit on the target during a merge: typed conflict, nothing lost, a rerun succeeds', async () => {
    await repo.createBranch('c-target')
    await repo.createBranch('c-source')
    await commitEdits('c-source', [{ op: 'set', id: 1, col: 'a', value: 'from source' }])
    // Another writer, through its own repository on the same store, commits while the merge uploads.
    const other = await Repository.open(store.inner)
    store.arm(async () => {
      const live = await openBranch(other, 'c-target', { mode: 'memory' })
      live.db.exec("UPDATE t SET a = 'concurrent' WHERE id = 2")
      await live.commit({ message: 'concurrent' })
      await live.close()
    })
    const e = await merge(repo, 'c-source', 'c-target').catch((x: unknown) => x)
    expect(isStrataError(e, 'STRATA_CONFLICT'), String(e)).toBe(true)
    const [head] = await repo.log('c-target', { limit: 1 })
    expect(head!.message).toBe('concurrent')
    const r = await merge(repo, 'c-source', 'c-target')
    expect(r.target.head).toBe(head!.id)
    const out = join(tmp.path, 'concurrent.sqlite')
    await repo.export('c-target', out)
    const db = new Database(out, { readonly: true })
    try {
      expect(db.prepare('SELECT id, a FROM t WHERE id <= 2 ORDER BY id').all()).toEqual([
        { id: 1, a: 'from source' },
        { id: 2, a: 'concurrent' },
      ])
    } finally {
      db.close()
    }
  })
})
