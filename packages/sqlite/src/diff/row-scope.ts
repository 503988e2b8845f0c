import type Database from 'better-sqlite3'
import { MAX_ROWID, MIN_ROWID } from './btree-page.js'
import { changedOwners, freelist, mergeRanges, type BtreeRoot, type RowidRange } from './changed-owners.js'
import { dbstatOwners, type PageOwners } from './page-owners.js'
import type { PageSource } from './page-source.js'
import type { RowScope } from './row-diff.js'
import { quoteId, rowidAlias, tableColumns, type SchemaObject } from './sql-catalog.js'

/** One side's owners of the differing pages, and the rowid ranges per table; `fullReasons` names tables that need a whole comparison. */
export interface SideOwners {
  owners: PageOwners
  ranges: Map<string, RowidRange[]>
  fullReasons: Map<string, string>
  /** The schema row id of each table (a table dropped and created again gets a new one). */
  schemaRowids: Map<string, bigint>
}

/**
 * Place `pages` of schema `schema` in their b-trees by walking down from the roots (see
 * `changedOwners`); pages no walk reaches (overflow pages) make this side fall back to `dbstat`
 * over the whole database for the owners, and the tables owning such pages to a whole-table
 * comparison.
 */
export async function sideOwners(db: Database.Database, schema: string, source: PageSource, pages: readonly number[], other: PageSource): Promise<SideOwners> {
  const rows = db
    .prepare(
      `SELECT s.rowid AS id, s.type, s.name, s.rootpage, coalesce(l.wr, 0) AS wr FROM ${quoteId(schema)}.sqlite_schema AS s ` +
        `LEFT JOIN pragma_table_list AS l ON l.schema = ? AND l.name = s.name AND s.type = 'table' WHERE s.type IN ('table', 'index') AND s.rootpage > 0`,
    )
    .safeIntegers(true)
    .all(schema) as { id: bigint; type: 'table' | 'index'; name: string; rootpage: bigint; wr: bigint }[]
  const roots: BtreeRoot[] = [
    { name: 'sqlite_schema', type: 'table', rootpage: 1, withoutRowid: false },
    ...rows.map((r) => ({ name: r.name, type: r.type, rootpage: Number(r.rootpage), withoutRowid: r.wr !== 0n })),
  ]
  const found = await changedOwners(source, roots, pages, other)
  const fullReasons = new Map<string, string>()
  let owners = found.owners
  if (found.unresolved.length > 0) {
    owners = dbstatOwners(db, schema, await freelist(source))
    for (const p of found.unresolved) {
      const name = owners.names[owners.owner[p - 1]!]!
      if (owners.types[owners.owner[p - 1]!] === 'table') fullReasons.set(name, `page ${p} (an overflow page) maps to no key range without reading the whole table`)
    }
  }
  return { owners, ranges: found.ranges, fullReasons, schemaRowids: new Map(rows.filter((r) => r.type === 'table').map((r) => [r.name, r.id])) }
}

/**
 * Which rows of a table can differ between schemas `schemaA` and `schemaB` of `db`: the rowid ranges both sides' differing pages cover, when
 * they are meaningful — the same definition at the same root, the same table (not dropped and
 * created again), a rowid to scan by, every differing page placed, and not every page of the
 * table rewritten. Otherwise the reason for comparing the whole table.
 */
export function rowPlan(db: Database.Database, schemaA: string, a: SchemaObject, schemaB: string, b: SchemaObject, sides: [SideOwners, SideOwners] | null): RowScope | { reason: string } {
  if (!sides) return { reason: 'exhaustive comparison asked for, or the page sizes differ so pages do not line up' }
  if (a.sql !== b.sql) return { reason: 'its definition changed' }
  if (sides[0].schemaRowids.get(a.name) !== sides[1].schemaRowids.get(b.name)) return { reason: 'its schema entry was written anew: the table was dropped and created again, or the database rebuilt (VACUUM)' }
  if (a.rootpage !== b.rootpage) return { reason: 'its root page moved (the table was rebuilt)' }
  const unplaced = sides[0].fullReasons.get(a.name) ?? sides[1].fullReasons.get(a.name)
  if (unplaced) return { reason: unplaced }
  const alias = rowidAlias(db, a.name, [
    { schema: schemaA, columns: tableColumns(db, schemaA, a.name) },
    { schema: schemaB, columns: tableColumns(db, schemaB, b.name) },
  ])
  if (alias === null) return { reason: 'it has no rowid to scan by (WITHOUT ROWID, or every rowid alias is a column)' }
  const ranges = mergeRanges([...(sides[0].ranges.get(a.name) ?? []), ...(sides[1].ranges.get(a.name) ?? [])])
  if (ranges.length === 1 && ranges[0]!.from === MIN_ROWID && ranges[0]!.to === MAX_ROWID) return { reason: 'its root page differs, so every row may (the table was rewritten, e.g. by VACUUM, or fits one page)' }
  return { alias, ranges }
}

