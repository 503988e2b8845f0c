import { describe, expect, it } from 'vitest'
import { json, jsonError, useImportedStore } from './helpers.js'

// History (log filters, tag, reset, diff, map) and storage lifecycle (stats, why-alive, holds,
// compact, --ttl, --detach-children) through the built CLI. One story, few processes.

const { cli } = useImportedStore('history')

/** A successful --json run: exit 0, one document on stdout. */
async function ok<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const r = await cli(...args, '--json')
  expect(r.code, r.stderr).toBe(0)
  return json<T>(r)
}

interface RowsDoc {
  identical: boolean
  pages: { changed: number; added: number; removed: number }
  tables: { name: string; type: string; changed: number; added: number; removed: number }[] | null
  schema: unknown[] | null
  rows: { table: string; keyKind: string; added: number; removed: number; changed: number; rows: { added: { key: Record<string, unknown>; after: Record<string, unknown> }[]; changed: { key: Record<string, unknown> }[] } }[] | null
}


describe('history', () => {
  let tagged: string
  let mainHead: string

  it('diff: page counts by default, tables and rows on request', async () => {
    const branch = await ok<{ expiresAt: string | null }>('branch', 'create', 'exp', '--ttl', '2h')
    expect(Date.parse(branch.expiresAt!) - Date.now()).toBeGreaterThan(3600_000)
    const sql = await cli('sql', 'exp', "UPDATE users SET name = 'renamed ' || id WHERE id <= 10; INSERT INTO orders (user_id, total) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)")
    expect(sql.code, sql.stderr).toBe(0)

    const pages = await ok<RowsDoc & { a: { snapshot: string } }>('diff', 'main', 'exp')
    mainHead = pages.a.snapshot
    expect(pages).toMatchObject({ level: 'pages', identical: false, tables: null, rows: null })
    expect(pages.pages.changed + pages.pages.added).toBeGreaterThan(0)

    const rows = await ok<RowsDoc>('diff', 'main', 'exp', '--rows')
    expect(rows.schema).toEqual([])
    expect(rows.tables!.map((t) => t.name)).toEqual(expect.arrayContaining(['users', 'orders']))
    expect(rows.rows!.map((t) => [t.table, t.added, t.removed, t.changed])).toEqual([
      ['orders', 5, 0, 0],
      ['users', 0, 0, 10],
    ])
    expect(rows.rows![0]!.rows.added[0]).toEqual({ key: { id: 301 }, before: null, after: { id: 301, user_id: 1, total: 1, note: null } })

    const human = await cli('diff', 'main', 'exp', '--rows', 'users', '--max-rows', '2')
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^pages: \d+ changed/m)
    expect(human.stdout).toMatch(/^ {2}table +users +\d+/m)
    // Each table says how its rows were compared: only the rowid ranges the differing pages cover.
    const users = (rows.rows as unknown as { table: string; method: string; ranges: number }[]).find((t) => t.table === 'users')!
    expect(users).toMatchObject({ method: 'ranges', ranges: expect.any(Number) })
    // --exhaustive (dbstat owners, whole tables) gives the same owners and rows, each table saying it was compared whole.
    const full = await ok<RowsDoc>('diff', 'main', 'exp', '--rows', '--exhaustive')
    expect(full.tables).toEqual(rows.tables)
    expect(full.rows!.map((t) => [t.table, t.added, t.removed, t.changed])).toEqual(rows.rows!.map((t) => [t.table, t.added, t.removed, t.changed]))
    expect((full.rows as unknown as { method: string }[]).map((t) => t.method)).toEqual(['full', 'full'])
    expect(human.stdout).toContain(`users (key id): 10 changed  [compared ${users.ranges} rowid range${users.ranges === 1 ? '' : 's'} the differing pages cover]\n    ~ id=1  name: 'user 1' → 'renamed 1'`)
    expect(human.stdout).toContain('… 8 more')
    expect(human.stdout).not.toContain('orders (key id)')
  })

  it('map names the snapshot and, with --owners, the table of every range', async () => {
    const map = await ok<{ pageCount: number; ranges: { from: number; to: number; depth: number; owner: string }[] }>('map', 'exp', '--owners')
    expect(map.ranges[0]).toMatchObject({ from: 1, owner: 'sqlite_schema' })
    expect(map.ranges.at(-1)!.to).toBe(map.pageCount)
    expect(new Set(map.ranges.map((r) => r.depth))).toEqual(new Set([0, 1]))
    expect(map.ranges.some((r) => r.owner === 'orders_user')).toBe(true)
  })

  it('tag, log filters and reset', async () => {
    const tag = await ok<{ name: string; snapshot: string }>('tag', 'v1', 'exp', '-m', 'ten renames and five orders')
    tagged = tag.snapshot
    expect((await cli('sql', 'exp', 'DELETE FROM orders WHERE id > 100')).code).toBe(0)
    const again = await cli('tag', 'v1', 'main', '--json')
    expect(again.code).toBe(1)
    expect(jsonError(again)).toMatchObject({ code: 'STRATA_TAG_EXISTS' })

    const reset = await ok<{ snapshot: string; previous: string; target: string }>('reset', 'exp', 'v1')
    expect(reset.target).toBe(tagged)
    const log = await ok<{ entries: { id: string; operation: string; tags: string[] }[] }>('log', 'exp', '--since', '1h')
    expect(log.entries.map((e) => e.operation)).toEqual(['reset', 'commit', 'commit', 'import'])
    expect(await ok('log', 'exp', '--tag', 'v1')).toMatchObject({ entries: [{ id: tagged, tags: ['v1'] }] })
    expect(await ok('log', 'exp', '--until', '2000-01-01')).toMatchObject({ entries: [] })
    // Identical content: the reset head and the tag.
    expect(await ok('diff', 'v1', 'exp', '--rows')).toMatchObject({ identical: true, rows: [] })

    const other = await ok<{ head: string }>('branch', 'create', 'other')
    await cli('sql', 'other', "UPDATE users SET email = NULL WHERE id = 1")
    const head = (await ok<{ head: string }>('branch', 'create', 'probe', '--from', 'other')).head
    expect(head).not.toBe(other.head)
    const refused = await cli('reset', 'exp', head)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/not in the history of branch "exp"[^\n]*\nhint: pass --force/)

    const tags = await ok<{ tags: { name: string }[] }>('tag', 'list')
    expect(tags.tags.map((t) => t.name)).toEqual(['v1'])
  })

  it('lifecycle: a tag keeps its snapshot through gc; why-alive, holds, stats, compact, delete --detach-children', async () => {
    const gc = await ok<{ freed: { snapshots: number } }>('gc', '--grace', '0', '--keep-within', '0')
    expect(gc.freed.snapshots).toBeGreaterThan(0)
    const why = await ok<{ alive: boolean; reasons: { root: { kind: string; name: string } }[] }>('why-alive', tagged.slice(0, 10))
    expect(why.alive).toBe(true)
    expect(why.reasons.map((r) => r.root)).toEqual(expect.arrayContaining([{ kind: 'tag', name: 'v1', key: 'tags/v1' }]))
    expect(await ok('diff', 'v1', mainHead)).toMatchObject({ identical: false })

    expect(await ok('hold', 'exp', '--reason', 'audit')).toMatchObject({ record: { target: 'branch', branch: 'exp', reason: 'audit' } })
    expect(await ok('holds')).toMatchObject({ holds: [{ record: { branch: 'exp' } }] })
    const held = await cli('branch', 'delete', 'exp')
    expect(held.code).toBe(1)
    expect(held.stderr).toMatch(/while it is held .*strata unhold exp/)
    expect(await ok('unhold', 'exp')).toMatchObject({ removed: { record: { branch: 'exp' } } })

    const stats = await ok<{ branches: { name: string; expiresAt: string | null }[]; store: { liveBytes: number } }>('stats')
    expect(stats.branches.map((b) => b.name)).toEqual(['exp', 'main', 'other', 'probe'])
    expect(stats.branches[0]!.expiresAt).not.toBeNull()
    expect(stats.store.liveBytes).toBeGreaterThan(0)
    expect(await ok('compact', 'exp')).toMatchObject({ compacted: expect.any(Array), skipped: expect.any(Array) })

    const deleted = await ok<{ deleted: string; detached: { branch: string }[] }>('branch', 'delete', 'other', '--detach-children')
    expect(deleted).toMatchObject({ deleted: 'other', detached: [{ branch: 'probe' }] })
    expect(await ok('show', 'probe')).toMatchObject({ fallback: null })
  })
})
