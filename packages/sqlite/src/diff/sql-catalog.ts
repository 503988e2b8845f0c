import type BetterSqlite3 from 'better-sqlite3'

/** A value SQLite stores: integers beyond 2^53 stay exact as bigint; blobs are bytes. */
export type SqlValue = null | number | bigint | string | Uint8Array

/** One schema object (`sqlite_schema` row) with SQL. */
export interface SchemaObject {
  type: 'table' | 'index' | 'view' | 'trigger'
  name: string
  /** The table an index or trigger belongs to (the object itself for tables and views). */
  table: string
  rootpage: number
  sql: string
}

/** One column of a table, as `PRAGMA table_info` reports it. */
export interface ColumnInfo {
  name: string
  type: string
  notnull: boolean
  default: string | null
  /** Position in the primary key (1-based), 0 if not part of it. */
  pk: number
}

/** `"name"` with inner quotes doubled: safe as an SQL identifier. */
export function quoteId(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * The user's schema objects of schema `schema`, by `type:name`. Objects without SQL (automatic
 * indexes) and SQLite's own (`sqlite_%`: sequence and statistics tables) are left out.
 */
export function schemaObjects(db: BetterSqlite3.Database, schema: string): Map<string, SchemaObject> {
  const rows = db
    .prepare(`SELECT type, name, tbl_name AS "table", rootpage, sql FROM ${quoteId(schema)}.sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`)
    .all() as SchemaObject[]
  return new Map(rows.map((r) => [`${r.type}:${r.name}`, { ...r, rootpage: Number(r.rootpage) }]))
}

/** True for `CREATE VIRTUAL TABLE …`. */
export function isVirtual(o: SchemaObject): boolean {
  return o.type === 'table' && /^\s*CREATE\s+VIRTUAL\s/i.test(o.sql)
}

/** The columns of `table` in `schema` (generated and hidden columns excluded), in declaration order. */
export function tableColumns(db: BetterSqlite3.Database, schema: string, table: string): ColumnInfo[] {
  const rows = db.prepare('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?, ?) ORDER BY cid').all(table, schema) as {
    name: string
    type: string
    notnull: number
    dflt_value: string | null
    pk: number
  }[]
  return rows.map((r) => ({ name: r.name, type: r.type, notnull: r.notnull !== 0, default: r.dflt_value, pk: r.pk }))
}

const ROWID_NAMES = ['rowid', '_rowid_', 'oid']

/**
 * A name that reads `table`'s rowid in every given schema: the first of `rowid`, `_rowid_`, `oid`
 * that no column of it shadows and that selects (it fails on WITHOUT ROWID tables). Null when the
 * table has no rowid there or every alias is a column name.
 */
export function rowidAlias(db: BetterSqlite3.Database, table: string, sides: readonly { schema: string; columns: readonly ColumnInfo[] }[]): string | null {
  for (const alias of ROWID_NAMES) {
    if (sides.some((s) => s.columns.some((c) => c.name.toLowerCase() === alias))) continue
    try {
      for (const s of sides) db.prepare(`SELECT ${alias} FROM ${quoteId(s.schema)}.${quoteId(table)} LIMIT 0`)
      return alias
    } catch {
      return null
    }
  }
  return null
}

/** Plain JS values for output: bigints that fit a double become numbers. */
export function plainValue(v: unknown): SqlValue {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
  return v as SqlValue
}

/** A primary-key column of a WITHOUT ROWID table as its b-tree sorts it. */
export interface KeyColumn {
  name: string
  /** The collation the b-tree sorts it by. */
  collation: string
  /** Sorted descending. */
  desc: boolean
}

/**
 * The primary-key columns of `table` in `schema`, in key order, when it is a WITHOUT ROWID table
 * (its b-tree is keyed by them); null for any other table.
 */
export function withoutRowidKey(db: BetterSqlite3.Database, schema: string, table: string): KeyColumn[] | null {
  const listed = db.prepare('SELECT wr FROM pragma_table_list WHERE schema = ? AND name = ?').get(schema, table) as { wr: number } | undefined
  if (!listed || listed.wr === 0) return null
  const index = db.prepare("SELECT name FROM pragma_index_list(?, ?) WHERE origin = 'pk'").get(table, schema) as { name: string } | undefined
  if (!index) return null
  const cols = db.prepare('SELECT name, coll, "desc" FROM pragma_index_xinfo(?, ?) WHERE key = 1 ORDER BY seqno').all(index.name, schema) as { name: string; coll: string; desc: number }[]
  return cols.map((c) => ({ name: c.name, collation: c.coll, desc: c.desc !== 0 }))
}
