import type Database from 'better-sqlite3'
import { MAX_ROWID, MIN_ROWID } from './btree-page.js'
import { changedOwners, freelist, mergeRanges, type BtreeRoot, type KeyRange, type RowidRange } from './changed-owners.js'
import { dbstatOwners, type PageOwners } from './page-owners.js'
import type { PageSource } from './page-source.js'
import type { KeyValue } from './record-key.js'
import type { RowScope } from './row-diff.js'
import { quoteId, rowidAlias, tableColumns, withoutRowidKey, type SchemaObject } from './sql-catalog.js'

/**
 * One side's owners of the differing pages, the rowid ranges per rowid table and the key ranges
 * per WITHOUT ROWID table; `fullReasons` names tables that need a whole comparison.
 */
export interface SideOwners {
  owners: PageOwners
  ranges: Map<string, RowidRange[]>
  keyRanges: Map<string, KeyRange[]>
  fullReasons: Map<string, string>
  /** The schema row id of each table (a table dropped and created again gets a new one). */
  schemaRowids: Map<string, bigint>
}

/**
 * Place `pages` of schema `schema` in their b-trees by walking down from the roots (see
 * `changedOwners`); pages no walk reaches (overflow pages the overflow search did not place) make
 * this side fall back to `dbstat` over the whole database for the owners, and the tables owning
 * such pages to a whole-table comparison.
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
    ...rows.map((r) => {
      const withoutRowid = r.wr !== 0n
      const keyColumns = withoutRowid ? withoutRowidKey(db, schema, r.name)?.length : undefined
      return { name: r.name, type: r.type, rootpage: Number(r.rootpage), withoutRowid, ...(keyColumns ? { keyColumns } : {}) }
    }),
  ]
  const found = await changedOwners(source, roots, pages, other)
  const fullReasons = new Map<string, string>()
  for (const [name, why] of found.keyFailures) fullReasons.set(name, `no key range for a differing page: ${why}`)
  let owners = found.owners
  if (found.unresolved.length > 0) {
    owners = dbstatOwners(db, schema, await freelist(source))
    for (const p of found.unresolved) {
      const name = owners.names[owners.owner[p - 1]!]!
      if (owners.types[owners.owner[p - 1]!] === 'table') fullReasons.set(name, `page ${p} (an overflow page) maps to no key range without reading the whole table`)
    }
  }
  return { owners, ranges: found.ranges, keyRanges: found.keyRanges, fullReasons, schemaRowids: new Map(rows.filter((r) => r.type === 'table').map((r) => [r.name, r.id])) }
}

/**
 * Which rows of a table can differ between schemas `schemaA` and `schemaB` of `db`: the rowid
 * ranges (or, for a WITHOUT ROWID table, primary-key ranges) both sides' differing pages cover,
 * when they are meaningful — the same definition at the same root, the same table (not dropped
 * and created again), a rowid or usable key to scan by, every differing page placed, and not
 * every page of the table rewritten. Otherwise the reason for comparing the whole table.
 */
export function rowPlan(db: Database.Database, schemaA: string, a: SchemaObject, schemaB: string, b: SchemaObject, sides: [SideOwners, SideOwners] | null): RowScope | { reason: string } {
  if (!sides) return { reason: 'exhaustive comparison asked for, or the page sizes differ so pages do not line up' }
  if (a.sql !== b.sql) return { reason: 'its definition changed' }
  if (sides[0].schemaRowids.get(a.name) !== sides[1].schemaRowids.get(b.name)) return { reason: 'its schema entry was written anew: the table was dropped and created again, or the database rebuilt (VACUUM)' }
  if (a.rootpage !== b.rootpage) return { reason: 'its root page moved (the table was rebuilt)' }
  const unplaced = sides[0].fullReasons.get(a.name) ?? sides[1].fullReasons.get(a.name)
  if (unplaced) return { reason: unplaced }
  const key = withoutRowidKey(db, schemaA, a.name)
  if (key) return keyPlan(db, schemaA, a.name, key, [...(sides[0].keyRanges.get(a.name) ?? []), ...(sides[1].keyRanges.get(b.name) ?? [])])
  const alias = rowidAlias(db, a.name, [
    { schema: schemaA, columns: tableColumns(db, schemaA, a.name) },
    { schema: schemaB, columns: tableColumns(db, schemaB, b.name) },
  ])
  if (alias === null) return { reason: 'it has no rowid to scan by (every rowid alias is a column)' }
  const ranges = mergeRanges([...(sides[0].ranges.get(a.name) ?? []), ...(sides[1].ranges.get(a.name) ?? [])])
  if (ranges.length === 1 && ranges[0]!.from === MIN_ROWID && ranges[0]!.to === MAX_ROWID) return { reason: ROOT_DIFFERS }
  return { alias, ranges }
}

const ROOT_DIFFERS = 'its root page differs, so every row may (the table was rewritten, e.g. by VACUUM, or fits one page)'

/** Collations SQLite itself defines: the b-tree's order and a query's comparisons agree on them whichever process wrote the file. */
const BUILTIN_COLLATIONS = new Set(['BINARY', 'NOCASE', 'RTRIM'])

/**
 * The scope of a WITHOUT ROWID table: primary-key ranges compared as row values against the key
 * columns, which SQLite does with the columns' own collations and affinities. That is the
 * b-tree's order only when every key column sorts ascending by a built-in collation that is also
 * the column's (a `PRIMARY KEY (k COLLATE …)` can differ from `k`'s): the query planner searching
 * the primary key for such a range proves the collations agree, since it uses an index only then.
 * The bounds are values as stored, so the columns' affinity leaves them as they are (a REAL
 * stored as an integer compares equal to its real value); key columns hold no NULL (SQLite
 * enforces NOT NULL on a WITHOUT ROWID table's primary key).
 */
function keyPlan(db: Database.Database, schema: string, table: string, key: readonly { name: string; collation: string; desc: boolean }[], ranges: KeyRange[]): RowScope | { reason: string } {
  const desc = key.find((k) => k.desc)
  if (desc) return { reason: `its primary key sorts ${desc.name} DESC, which a row-value range does not follow` }
  const odd = key.find((k) => !BUILTIN_COLLATIONS.has(k.collation.toUpperCase()))
  if (odd) return { reason: `its primary key sorts ${odd.name} by the collation ${odd.collation}, which key ranges do not use` }
  if (ranges.some((r) => r.from === null && r.to === null)) return { reason: ROOT_DIFFERS }
  const names = key.map((k) => k.name)
  const cols = `(${names.map(quoteId).join(', ')})`
  const marks = `(${names.map(() => '?').join(', ')})`
  const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT 1 FROM ${quoteId(schema)}.${quoteId(table)} WHERE ${cols} >= ${marks} AND ${cols} <= ${marks}`).all(...names.flatMap(() => [null, null])) as { detail: string }[]
  const term = names.length === 1 ? `${names[0]}>?` : `(${names.join(',')})>(`
  if (!plan.some((p) => p.detail.includes('USING PRIMARY KEY') && p.detail.includes(term))) {
    return { reason: 'its primary key sorts by other collations than its columns compare with, so key ranges do not follow the b-tree' }
  }
  // Identical ranges once (several overflow pages of one row, both sides' copies of a page).
  const unique = new Map(ranges.map((r) => [`${rangeId(r.from)}..${rangeId(r.to)}`, r]))
  return { key: names, keyRanges: [...unique.values()] }
}

/** A string that is equal for equal keys (storage class and value). */
function rangeId(key: readonly KeyValue[] | null): string {
  if (!key) return '*'
  return key.map((v) => (v === null ? 'n' : v instanceof Uint8Array ? `x${Buffer.from(v).toString('hex')}` : typeof v === 'string' ? `s${JSON.stringify(v)}` : `${typeof v === 'bigint' ? 'i' : 'r'}${String(v)}`)).join(',')
}
