import type BetterSqlite3 from 'better-sqlite3'
import { isVirtual, quoteId, tableColumns, type ColumnInfo, type SchemaObject } from './sql-catalog.js'

/** One difference between the schemas of two databases. */
export interface SchemaChange {
  change: 'added' | 'removed' | 'changed'
  type: SchemaObject['type']
  name: string
  /** The table an index or trigger belongs to (the object itself for tables and views). */
  table: string
  /** The CREATE statement in `a` (null if added). */
  before: string | null
  /** The CREATE statement in `b` (null if removed). */
  after: string | null
  /** For a changed table: columns added, removed, and changed (type, NOT NULL, default or key position). Otherwise null. */
  columns: { added: string[]; removed: string[]; changed: string[] } | null
  /** For an added or removed ordinary table: its rows on the side that has it. Otherwise null. */
  rows: number | null
}

const TYPE_ORDER: Record<SchemaObject['type'], number> = { table: 0, index: 1, view: 2, trigger: 3 }

/**
 * Compare the schema objects of `a` and `b` (as read by `schemaObjects`): objects only in `b`
 * are added, only in `a` removed, in both with different SQL changed (a table with its column
 * differences). `db` is the connection both schemas are attached to, named `schemaA` and
 * `schemaB`. Sorted tables first, then indexes, views and triggers, each by name.
 */
export function schemaDiff(
  db: BetterSqlite3.Database,
  schemaA: string,
  a: ReadonlyMap<string, SchemaObject>,
  schemaB: string,
  b: ReadonlyMap<string, SchemaObject>,
): SchemaChange[] {
  const out: SchemaChange[] = []
  const count = (schema: string, o: SchemaObject): number | null =>
    o.type === 'table' && !isVirtual(o) ? Number((db.prepare(`SELECT count(*) AS n FROM ${quoteId(schema)}.${quoteId(o.name)}`).get() as { n: number }).n) : null
  for (const [key, x] of a) {
    const y = b.get(key)
    if (!y) {
      out.push({ change: 'removed', type: x.type, name: x.name, table: x.table, before: x.sql, after: null, columns: null, rows: count(schemaA, x) })
    } else if (x.sql !== y.sql) {
      const columns = x.type === 'table' && !isVirtual(x) && !isVirtual(y) ? columnChanges(tableColumns(db, schemaA, x.name), tableColumns(db, schemaB, y.name)) : null
      out.push({ change: 'changed', type: x.type, name: x.name, table: y.table, before: x.sql, after: y.sql, columns, rows: null })
    }
  }
  for (const [key, y] of b) {
    if (!a.has(key)) out.push({ change: 'added', type: y.type, name: y.name, table: y.table, before: null, after: y.sql, columns: null, rows: count(schemaB, y) })
  }
  return out.sort((p, q) => TYPE_ORDER[p.type] - TYPE_ORDER[q.type] || (p.name < q.name ? -1 : p.name > q.name ? 1 : 0))
}

function columnChanges(a: readonly ColumnInfo[], b: readonly ColumnInfo[]): { added: string[]; removed: string[]; changed: string[] } {
  const inA = new Map(a.map((c) => [c.name, c]))
  const inB = new Map(b.map((c) => [c.name, c]))
  return {
    added: b.filter((c) => !inA.has(c.name)).map((c) => c.name),
    removed: a.filter((c) => !inB.has(c.name)).map((c) => c.name),
    changed: a
      .filter((c) => {
        const d = inB.get(c.name)
        return d !== undefined && (d.type !== c.type || d.notnull !== c.notnull || d.default !== c.default || d.pk !== c.pk)
      })
      .map((c) => c.name),
  }
}
