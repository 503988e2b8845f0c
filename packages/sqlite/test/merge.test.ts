import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isStrataError, type Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { merge, openBranch, type MergeConflict, type MergeResult } from '../src/index.js'
import { buildDatabase, makeRepo, type TestRepo } from './helpers.js'

let t: TestRepo
let repo: Repository
let n = 0

/** Run `sql` on a live copy of `branch` and commit it. */
async function write(branch: string, sql: string): Promise<void> {
  const live = await openBranch(repo, branch, { mode: 'memory' })
  try {
    live.db.exec(sql)
    await live.commit({ message: sql.slice(0, 60) })
  } finally {
    await live.close({ uncommitted: 'discard' })
  }
}

/** Rows of `sql` on `spec`, read from an export. */
async function query(spec: string, sql: string): Promise<unknown[]> {
  const path = join(t.dir, `q-${++n}.sqlite`)
  await repo.export(spec, path)
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare(sql).all()
  } finally {
    db.close()
  }
}

/** A target and a source branch, both forked from main, with `ours` and `theirs` committed on them. */
async function fork(ours: string, theirs: string): Promise<{ target: string; source: string }> {
  const id = ++n
  const target = `target-${id}`
  const source = `source-${id}`
  await repo.createBranch(target)
  await repo.createBranch(source)
  if (ours) await write(target, ours)
  if (theirs) await write(source, theirs)
  return { target, source }
}

async function conflictsOf(p: Promise<MergeResult>): Promise<MergeConflict[]> {
  const e = await p.catch((x: unknown) => x)
  expect(isStrataError(e, 'STRATA_MERGE_CONFLICT' as never), String(e)).toBe(true)
  return (e as { data: { conflicts: MergeConflict[] } }).data.conflicts
}

beforeAll(async () => {
  t = await makeRepo()
  repo = t.repo
  const src = join(t.dir, 'source.sqlite')
  buildDatabase(src, { scale: 0.05 })
  await repo.importDatabase(src)
  // A table without an INTEGER PRIMARY KEY: its rowid is SQLite's row number, not a key.
  await write('main', "CREATE TABLE notes (body TEXT, author TEXT); INSERT INTO notes VALUES ('first', 'ann'), ('second', 'bob')")
})
afterAll(async () => {
  await t.cleanup()
})

describe('merge', () => {
  it('disjoint changes on both sides of one table: both kept, committed as a merge on the target', async () => {
    const { target, source } = await fork(
      "UPDATE users SET name = 'ours ' || id WHERE id <= 5; DELETE FROM kv WHERE k = 'key:000001'",
      "UPDATE users SET name = 'theirs ' || id WHERE id BETWEEN 11 AND 15; INSERT INTO kv VALUES ('new', 'v'); DELETE FROM users WHERE id = 20; INSERT INTO notes VALUES ('third', 'cy')",
    )
    const before = (await repo.getBranch(target)).head
    const r = await merge(repo, source, target)
    expect(r).toMatchObject({ status: 'merged', conflicts: [], target: { branch: target, head: before }, source: { branch: source } })
    expect(r.base).toBe((await repo.getBranch(source)).source)
    expect(r.commit).not.toBeNull()
    expect((await repo.getBranch(target)).head).toBe(r.commit!.snapshot)
    const byTable = Object.fromEntries(r.tables.map((x) => [x.table, x]))
    expect(byTable.users).toMatchObject({ keyKind: 'integer primary key', key: ['id'], sourceChanges: 6, updated: 5, deleted: 1, inserted: 0, conflicts: 0 })
    expect(byTable.kv).toMatchObject({ keyKind: 'primary key', key: ['k'], sourceChanges: 1, inserted: 1 })
    expect(byTable.notes).toMatchObject({ keyKind: 'rowid', inserted: 1, renumbered: [] })
    expect(await query(target, "SELECT id, name FROM users WHERE name LIKE 'ours %' OR name LIKE 'theirs %' ORDER BY id")).toEqual([
      ...[1, 2, 3, 4, 5].map((id) => ({ id, name: `ours ${id}` })),
      ...[11, 12, 13, 14, 15].map((id) => ({ id, name: `theirs ${id}` })),
    ])
    expect(await query(target, "SELECT count(*) AS n FROM users WHERE id = 20")).toEqual([{ n: 0 }])
    expect(await query(target, "SELECT k FROM kv WHERE k IN ('new', 'key:000001')")).toEqual([{ k: 'new' }])
    expect(await query(target, 'SELECT body FROM notes ORDER BY rowid')).toEqual([{ body: 'first' }, { body: 'second' }, { body: 'third' }])
    const [head] = await repo.log(target, { limit: 1 })
    expect(head).toMatchObject({ operation: 'merge', message: `merge ${source} into ${target}`, parent: before })
    expect(await query(target, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }])
  })

  it('changes to different columns of one row merge cell by cell; identical changes are taken once', async () => {
    const { target, source } = await fork(
      "UPDATE users SET name = 'both' WHERE id = 1; UPDATE users SET created_at = 7 WHERE id = 2",
      "UPDATE users SET name = 'both' WHERE id = 1; UPDATE users SET name = 'renamed' WHERE id = 2",
    )
    const r = await merge(repo, source, target)
    expect(r.conflicts).toEqual([])
    expect(r.tables.find((x) => x.table === 'users')).toMatchObject({ sourceChanges: 2, updated: 1 })
    expect(await query(target, 'SELECT id, name, created_at FROM users WHERE id IN (1, 2) ORDER BY id')).toEqual([
      { id: 1, name: 'both', created_at: expect.any(Number) },
      { id: 2, name: 'renamed', created_at: 7 },
    ])
  })

  it('a cell changed differently on both sides is a conflict naming key and column; fail commits nothing, ours and theirs resolve', async () => {
    const { target, source } = await fork("UPDATE users SET name = 'ours', created_at = 1 WHERE id = 3", "UPDATE users SET name = 'theirs', created_at = 2 WHERE id = 3")
    const head = (await repo.getBranch(target)).head
    const [base] = (await query('main', 'SELECT name, created_at FROM users WHERE id = 3')) as { name: string; created_at: number }[]
    const conflicts = await conflictsOf(merge(repo, source, target))
    expect(conflicts).toEqual([
      {
        kind: 'update/update',
        table: 'users',
        key: { id: 3 },
        columns: [
          { name: 'name', base: base!.name, ours: 'ours', theirs: 'theirs' },
          { name: 'created_at', base: base!.created_at, ours: 1, theirs: 2 },
        ],
        detail: expect.any(String),
        resolution: null,
      },
    ])
    expect((await repo.getBranch(target)).head).toBe(head)

    const dry = await merge(repo, source, target, { dryRun: true })
    expect(dry).toMatchObject({ status: 'dry-run', commit: null, conflicts: [{ kind: 'update/update', key: { id: 3 } }] })
    expect((await repo.getBranch(target)).head).toBe(head)

    const ours = await merge(repo, source, target, { strategy: 'ours', dryRun: true })
    expect(ours.conflicts[0]!.resolution).toBe('ours')
    const theirs = await merge(repo, source, target, { strategy: 'theirs' })
    expect(theirs.conflicts[0]!.resolution).toBe('theirs')
    expect(await query(target, 'SELECT name, created_at FROM users WHERE id = 3')).toEqual([{ name: 'theirs', created_at: 2 }])
  })

  it('delete on one side and update on the other are conflicts with the changed columns', async () => {
    const { target, source } = await fork(
      "DELETE FROM orders WHERE user_id = 4; DELETE FROM users WHERE id = 4; UPDATE kv SET v = 'ours' WHERE k = 'key:000004'",
      "UPDATE users SET name = 'theirs' WHERE id = 4; DELETE FROM kv WHERE k = 'key:000004'",
    )
    const conflicts = await conflictsOf(merge(repo, source, target))
    expect(conflicts.map((c) => ({ kind: c.kind, table: c.table, key: c.key, columns: c.columns }))).toEqual([
      { kind: 'delete/update', table: 'users', key: { id: 4 }, columns: [{ name: 'name', base: expect.stringMatching(/^user 4/), ours: null, theirs: 'theirs' }] },
      { kind: 'update/delete', table: 'kv', key: { k: 'key:000004' }, columns: [{ name: 'v', base: 'value 4', ours: 'ours', theirs: null }] },
    ].sort((a, b) => (a.table < b.table ? -1 : 1)))
    const r = await merge(repo, source, target, { strategy: 'theirs' })
    expect(r.status).toBe('merged')
    expect(await query(target, "SELECT name FROM users WHERE id = 4")).toEqual([{ name: 'theirs' }])
    expect(await query(target, "SELECT v FROM kv WHERE k = 'key:000004'")).toEqual([])
  })

  it('inserts colliding on a key are conflicts; identical inserts are taken once; a UNIQUE collision names its column', async () => {
    const { target, source } = await fork(
      "INSERT INTO users VALUES (9001, 'ours', 'o@x', 1); INSERT INTO users VALUES (9002, 'same', 's@x', 2); INSERT INTO kv VALUES ('dup', 'ours'); INSERT INTO users VALUES (9003, 'mail', 'taken@x', 3)",
      "INSERT INTO users VALUES (9001, 'theirs', 't@x', 1); INSERT INTO users VALUES (9002, 'same', 's@x', 2); INSERT INTO kv VALUES ('dup', 'theirs'); INSERT INTO users VALUES (9004, 'other', 'taken@x', 4)",
    )
    const conflicts = await conflictsOf(merge(repo, source, target))
    const brief = conflicts.map((c) => ({ kind: c.kind, table: c.table, key: c.key, columns: c.columns.map((x) => [x.name, x.ours, x.theirs]) }))
    expect(brief).toEqual(
      expect.arrayContaining([
        { kind: 'insert/insert', table: 'users', key: { id: 9001 }, columns: [['name', 'ours', 'theirs'], ['email', 'o@x', 't@x']] },
        { kind: 'insert/insert', table: 'kv', key: { k: 'dup' }, columns: [['v', 'ours', 'theirs']] },
        { kind: 'unique', table: 'users', key: { id: 9004 }, columns: [['email', null, 'taken@x']] },
      ]),
    )
    expect(conflicts).toHaveLength(3)
  })

  it('rowid collision rule: a table without an INTEGER PRIMARY KEY gets the source insert under a new rowid', async () => {
    const { target, source } = await fork("INSERT INTO notes VALUES ('ours', 'ann')", "INSERT INTO notes VALUES ('theirs', 'bob'); INSERT INTO notes VALUES ('theirs too', 'cy')")
    const r = await merge(repo, source, target)
    const notes = r.tables.find((x) => x.table === 'notes')!
    expect(notes).toMatchObject({ keyKind: 'rowid', key: ['rowid'], inserted: 2, conflicts: 0 })
    // rowid 3 was taken by the target's insert; rowid 4 was free, so only 3 moves (past 4).
    expect(notes.renumbered).toEqual([{ from: 3, to: 5 }])
    expect(await query(target, 'SELECT rowid AS r, body FROM notes ORDER BY rowid')).toEqual([
      { r: 1, body: 'first' },
      { r: 2, body: 'second' },
      { r: 3, body: 'ours' },
      { r: 4, body: 'theirs too' },
      { r: 5, body: 'theirs' },
    ])
  })
})
