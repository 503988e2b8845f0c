import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isStrataError, type Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { merge, type MergeConflict, type MergeResult } from '../src/index.js'
import { commitSql, importedRepo, type TestRepo } from './helpers.js'

let t: TestRepo
let repo: Repository
let n = 0

const write = (branch: string, sql: string): Promise<void> => commitSql(repo, branch, sql)

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
  expect(isStrataError(e, 'STRATA_MERGE_CONFLICT'), String(e)).toBe(true)
  return (e as { data: { conflicts: MergeConflict[] } }).data.conflicts
}

beforeAll(async () => {
  t = await importedRepo(0.05)
  repo = t.repo
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
    const sourceHead = (await repo.getBranch(source)).head
    const [head] = await repo.log(target, { limit: 1 })
    expect(head).toMatchObject({ operation: 'merge', message: `merge ${source} into ${target}`, parent: before, merge: { source: sourceHead, sourceBranch: source, base: r.base } })
    expect((await repo.show(target)).merge).toEqual({ source: sourceHead, sourceBranch: source, base: r.base })

    // The merge is recorded: merging again is up to date, and a later merge starts from this source head.
    expect(await merge(repo, source, target)).toMatchObject({ status: 'up-to-date', base: sourceHead })
    await write(source, "UPDATE users SET name = 'later' WHERE id = 12")
    await write(target, "UPDATE users SET name = 'target later' WHERE id = 11")
    const again = await merge(repo, source, target)
    expect(again).toMatchObject({ base: sourceHead, conflicts: [], tables: [{ table: 'users', sourceChanges: 1, updated: 1 }] })
    // Merging the target back into the source: the base is the source head the last merge took in.
    const back = await merge(repo, target, source)
    expect(back.base).toBe(again.source.snapshot)
    expect(back.conflicts).toEqual([])
    expect(await query(source, 'SELECT id, name FROM users WHERE id IN (1, 11, 12) ORDER BY id')).toEqual([
      { id: 1, name: 'ours 1' },
      { id: 11, name: 'target later' },
      { id: 12, name: 'later' },
    ])
    expect(await query(target, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }])
  })

  it('a source already in the target\'s history is up to date: nothing hydrated, nothing committed', async () => {
    const { target } = await fork("UPDATE users SET name = 'ahead' WHERE id = 1", '')
    const head = (await repo.getBranch(target)).head
    const r = await merge(repo, 'main', target)
    expect(r).toMatchObject({ status: 'up-to-date', commit: null, base: (await repo.getBranch('main')).head, read: { targetPages: 0 } })
    expect((await repo.getBranch(target)).head).toBe(head)
    const unknown = await merge(repo, 'main', target, { strategy: 'mine' as never }).catch((x: unknown) => x)
    expect(isStrataError(unknown, 'STRATA_INVALID_ARGUMENT')).toBe(true)
  })

  it('changes to different columns of one row merge cell by cell; identical changes are taken once', async () => {
    const { target, source } = await fork(
      "UPDATE users SET name = 'both' WHERE id = 1; UPDATE users SET created_at = 7 WHERE id = 2",
      "UPDATE users SET name = 'both' WHERE id = 1; UPDATE users SET name = 'renamed' WHERE id = 2",
    )
    const r = await merge(repo, source, target)
    expect(r.conflicts).toEqual([])
    expect(r.tables.find((x) => x.table === 'users')).toMatchObject({ sourceChanges: 2, updated: 1 })
    // Changes the target already holds: the merge changes no page but is still recorded.
    const same = await fork("UPDATE users SET name = 'both' WHERE id = 1", "UPDATE users SET name = 'both' WHERE id = 1")
    const m = await merge(repo, same.source, same.target)
    expect(m).toMatchObject({ status: 'merged', commit: { pagesChanged: 0, changed: true } })
    expect((await repo.log(same.target, { limit: 1 }))[0]).toMatchObject({ operation: 'merge', merge: { source: (await repo.getBranch(same.source)).head } })
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
    expect(conflicts.find((c) => c.kind === 'unique')!.detail).toMatch(/UNIQUE constraint failed: users\.email; the target's row id=9003 holds the same value$/)
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

  it('schema changes on one side merge: a new table with its rows, a new index, a dropped table, a view and a trigger', async () => {
    const { target, source } = await fork(
      "UPDATE products SET price = 1 WHERE id = 1",
      `CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT UNIQUE); INSERT INTO tags VALUES (1, 'a'), (2, 'b');
       CREATE INDEX products_title ON products(title); DROP TABLE attachments;
       CREATE VIEW cheap AS SELECT id FROM products WHERE price < 5;
       CREATE TABLE audit (what TEXT); CREATE TRIGGER products_audit AFTER UPDATE ON products BEGIN INSERT INTO audit VALUES ('p'); END;`,
    )
    const r = await merge(repo, source, target)
    expect(r.schema.map((c) => `${c.change} ${c.type} ${c.name}: ${c.how}`).sort()).toEqual(
      ['added index products_title: create', 'added table audit: create', 'added table tags: create', 'added trigger products_audit: create', 'added view cheap: create', 'removed table attachments: drop'].sort(),
    )
    expect(await query(target, 'SELECT * FROM tags ORDER BY id')).toEqual([{ id: 1, label: 'a' }, { id: 2, label: 'b' }])
    expect(await query(target, "SELECT name FROM sqlite_schema WHERE name IN ('attachments', 'products_title', 'cheap', 'products_audit') ORDER BY name")).toEqual([
      { name: 'cheap' },
      { name: 'products_audit' },
      { name: 'products_title' },
    ])
    // The merge wrote results; it fired no trigger (the audit table is the source's, empty).
    expect(await query(target, 'SELECT count(*) AS n FROM audit')).toEqual([{ n: 0 }])
    expect(await query(target, 'SELECT price FROM products WHERE id = 1')).toEqual([{ price: 1 }])
  })

  it("the target's triggers do not fire on merged rows and stay in place", async () => {
    const { target, source } = await fork(
      "CREATE TABLE log (what TEXT); CREATE TRIGGER users_log AFTER UPDATE ON users BEGIN INSERT INTO log VALUES ('user ' || new.id); END; UPDATE users SET name = 'x' WHERE id = 30",
      "UPDATE users SET name = 'theirs' WHERE id IN (31, 32)",
    )
    const r = await merge(repo, source, target)
    expect(r.tables.find((x) => x.table === 'users')).toMatchObject({ updated: 2 })
    expect(await query(target, 'SELECT what FROM log')).toEqual([{ what: 'user 30' }])
    expect(await query(target, "SELECT name FROM sqlite_schema WHERE type = 'trigger'")).toEqual([{ name: 'users_log' }])
  })

  it('a table changed on both sides differently is a schema conflict; identical changes merge', async () => {
    const { target, source } = await fork('ALTER TABLE products ADD COLUMN color TEXT', 'ALTER TABLE products ADD COLUMN weight REAL')
    const conflicts = await conflictsOf(merge(repo, source, target))
    expect(conflicts).toEqual([
      {
        kind: 'schema',
        table: 'products',
        key: {},
        columns: [{ name: 'table products', base: expect.not.stringMatching(/color|weight/), ours: expect.stringMatching(/color TEXT\)$/), theirs: expect.stringMatching(/weight REAL\)$/) }],
        detail: expect.stringMatching(/both sides changed/),
        resolution: null,
      },
    ])
    const same = await fork("ALTER TABLE products ADD COLUMN color TEXT; UPDATE products SET color = 'red' WHERE id = 1", "ALTER TABLE products ADD COLUMN color TEXT; UPDATE products SET color = 'blue' WHERE id = 2")
    const r = await merge(repo, same.source, same.target)
    expect(r.conflicts).toEqual([])
    expect(await query(same.target, 'SELECT id, color FROM products WHERE id <= 3 ORDER BY id')).toEqual([
      { id: 1, color: 'red' },
      { id: 2, color: 'blue' },
      { id: 3, color: null },
    ])
  })

  it('a rebuilt table whose rows the target changed is a conflict; a dropped table whose rows the other side changed too', async () => {
    const rebuilt = await fork(
      "UPDATE kv SET v = 'ours' WHERE k = 'key:000002'",
      'CREATE TABLE kv2 (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID; INSERT INTO kv2 SELECT * FROM kv; DROP TABLE kv; ALTER TABLE kv2 RENAME TO kv',
    )
    const c1 = await conflictsOf(merge(repo, rebuilt.source, rebuilt.target))
    expect(c1.map((c) => [c.kind, c.table, c.detail])).toEqual([['schema', 'kv', expect.stringMatching(/rebuilt this table/)]])
    const dropped = await fork("UPDATE kv SET v = 'ours' WHERE k = 'key:000002'", 'DROP TABLE kv')
    const c2 = await conflictsOf(merge(repo, dropped.source, dropped.target))
    expect(c2.map((c) => [c.kind, c.table, c.detail])).toEqual([['schema', 'kv', expect.stringMatching(/dropped this table; the target changed its rows/)]])
    const droppedHere = await fork('DROP TABLE kv', "UPDATE kv SET v = 'theirs' WHERE k = 'key:000002'")
    const c3 = await conflictsOf(merge(repo, droppedHere.source, droppedHere.target))
    expect(c3.map((c) => [c.kind, c.table, c.detail])).toEqual([['schema', 'kv', expect.stringMatching(/target dropped this table; the source changed its rows/)]])
  })

  it('a merge that would break a foreign key is refused with the reason, in a dry run too; nothing is committed', async () => {
    const { target, source } = await fork('DELETE FROM orders WHERE user_id = 6; DELETE FROM users WHERE id = 6', 'INSERT INTO orders VALUES (99001, 6, 1, 1, 1)')
    const head = (await repo.getBranch(target)).head
    const dry = await merge(repo, source, target, { dryRun: true }).catch((x: unknown) => x)
    expect(isStrataError(dry, 'STRATA_MERGE_REFUSED'), String(dry)).toBe(true)
    const e = await merge(repo, source, target).catch((x: unknown) => x)
    expect(isStrataError(e, 'STRATA_MERGE_REFUSED'), String(e)).toBe(true)
    expect((e as { data: { reason: string; problems: string[] } }).data).toMatchObject({
      reason: expect.stringMatching(/foreign_key_check/),
      problems: ['orders row 99001 references a missing row of users (foreign key 1)'],
    })
    expect((await repo.getBranch(target)).head).toBe(head)
  })

  it('real data: a branch that adds a column and back-fills it merges with updates to other rows of that table', async () => {
    const { target, source } = await fork(
      "UPDATE users SET name = 'main edit ' || id WHERE id % 50 = 0; INSERT INTO users VALUES (8000, 'new on main', 'n@main', 5)",
      "ALTER TABLE users ADD COLUMN tier TEXT NOT NULL DEFAULT 'free'; UPDATE users SET tier = CASE WHEN id % 3 = 0 THEN 'gold' ELSE 'silver' END",
    )
    const r = await merge(repo, source, target)
    expect(r.conflicts).toEqual([])
    expect(r.schema).toEqual([{ change: 'changed', type: 'table', name: 'users', table: 'users', how: 'add column tier' }])
    const users = r.tables.find((x) => x.table === 'users')!
    expect(users.updated).toBe(users.sourceChanges)
    const rows = (await query(target, 'SELECT id, name, tier FROM users')) as { id: number; name: string; tier: string }[]
    const byId = new Map(rows.map((x) => [x.id, x]))
    expect(byId.get(50)).toEqual({ id: 50, name: 'main edit 50', tier: 'silver' })
    expect(byId.get(150)).toEqual({ id: 150, name: 'main edit 150', tier: 'gold' })
    expect(byId.get(8000)).toEqual({ id: 8000, name: 'new on main', tier: 'free' })
    expect(rows.filter((x) => x.id !== 8000).every((x) => x.tier === (x.id % 3 === 0 ? 'gold' : 'silver'))).toBe(true)
    expect(rows.filter((x) => x.name.startsWith('main edit')).length).toBe(Math.floor(rows.filter((x) => x.id !== 8000).length / 50))
    expect(await query(target, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }])
  })
})
