import type BetterSqlite3 from 'better-sqlite3'
import { quoteId, rowidAlias, schemaObjects, tableColumns, type ColumnInfo, type SchemaObject } from '../diff/sql-catalog.js'
import type { MergeConflict } from './conflict.js'
import type { MergeSchemas, RowStrategy } from './row-merge.js'

/** One schema change of the source that a merge applies to the target. */
export interface AppliedSchemaChange {
  change: 'added' | 'removed' | 'changed'
  type: SchemaObject['type']
  name: string
  /** The table an index or trigger belongs to (the object itself for tables and views). */
  table: string
  /** How it was applied: `create`, `drop`, `add column <name>`, `recreate`, or `replace table` (rebuilt with the source's rows). */
  how: string
}

/** A CREATE statement the merge runs after the rows, on a table that must exist by then. */
export interface DeferredStatement {
  sql: string
  type: SchemaObject['type']
  table: string
}

/** What the schema step decided, for the row step. */
export interface SchemaMergeResult {
  applied: AppliedSchemaChange[]
  conflicts: MergeConflict[]
  /** Tables whose rows are settled already: created or replaced from the source, or dropped. */
  settled: Set<string>
  /** Tables whose rows cannot be merged because their schema conflict stays unresolved. */
  blocked: Set<string>
  /** Statements to run after the rows are merged: indexes, views, then every trigger of the result. */
  deferred: DeferredStatement[]
}

/**
 * The schema half of a three-way merge, applied to `schemas.ours` (the target's working
 * database, inside the caller's transaction). Per object (table, index, view or trigger, by
 * name), comparing definitions:
 * - changed on the source only: applied — a new table is created with the source's rows, a
 *   dropped one dropped, columns appended with `ALTER TABLE … ADD COLUMN` (the rows then merge
 *   as usual, reading the new columns' defaults), any other table change replaces the table with
 *   the source's (definition and rows) when the target left its rows and indexes alone;
 * - changed on both sides identically, or on the target only: kept;
 * - changed on both sides differently, a dropped table whose rows the other side changed, or a
 *   rebuilt table whose rows the target changed: a `schema` conflict. Strategy `ours` keeps the
 *   target's definition (its rows still take the source's changes where they map onto it);
 *   `theirs` takes the source's definition where the target's rows of that table are unchanged
 *   and leaves the conflict unresolved otherwise.
 *
 * The target's triggers on the tables in `written` (those the row step writes) are dropped here
 * and recreated after the rows, with the source's trigger changes applied, so writing the merged
 * rows fires none: each side's triggers already ran on its own changes.
 * Virtual tables and their shadow tables are not merged: a change to one on the source is a
 * conflict.
 */
export function mergeSchema(db: BetterSqlite3.Database, schemas: MergeSchemas & { base: string }, strategy: RowStrategy, written: ReadonlySet<string>): SchemaMergeResult {
  const B = schemaObjects(db, schemas.base)
  const O = schemaObjects(db, schemas.ours)
  const T = schemaObjects(db, schemas.theirs)
  const out: SchemaMergeResult = { applied: [], conflicts: [], settled: new Set(), blocked: new Set(), deferred: [] }
  const special = new Set([...specialTables(db, schemas.base), ...specialTables(db, schemas.ours), ...specialTables(db, schemas.theirs)])
  const keys = [...new Set([...B.keys(), ...O.keys(), ...T.keys()])].sort(byTypeThenName)
  const conflict = (o: SchemaObject, detail: string, sql: { base?: string | undefined; ours?: string | undefined; theirs?: string | undefined }, resolution: 'ours' | 'theirs' | null): void => {
    out.conflicts.push({
      kind: 'schema',
      table: o.table,
      key: {},
      columns: [{ name: `${o.type} ${o.name}`, base: sql.base ?? null, ours: sql.ours ?? null, theirs: sql.theirs ?? null }],
      detail,
      resolution,
    })
  }
  const q = (schema: string, name: string): string => `${quoteId(schema)}.${quoteId(name)}`
  const unchangedRows = (table: string): boolean => !rowsDiffer(db, table, schemas.base, schemas.ours)
  const replaced = new Set<string>()
  const triggers = new Map<string, string>()
  for (const [k, o] of O) if (o.type === 'trigger') triggers.set(k, o.sql)

  for (const k of keys) {
    const b = B.get(k)
    const o = O.get(k)
    const t = T.get(k)
    const any = (t ?? o ?? b)!
    if (t?.sql === b?.sql) continue
    const sqls = { base: b?.sql, ours: o?.sql, theirs: t?.sql }
    if (any.type === 'table' && special.has(any.name)) {
      conflict(any, `${any.name} is a virtual table or belongs to one; merge does not merge those`, sqls, null)
      out.blocked.add(any.name)
      continue
    }
    const theirsOnly = o?.sql === b?.sql
    if (!theirsOnly && o?.sql === t?.sql) continue
    if (any.type === 'trigger') {
      if (theirsOnly || strategy === 'theirs') {
        if (t) triggers.set(k, t.sql)
        else triggers.delete(k)
        out.applied.push({ change: changeOf(b, t), type: 'trigger', name: any.name, table: any.table, how: t ? 'create' : 'drop' })
      }
      if (!theirsOnly) conflict(any, 'both sides changed this trigger differently', sqls, strategy === 'fail' ? null : strategy)
      continue
    }
    if (any.type === 'table') {
      const name = any.name
      if (!theirsOnly) {
        // Both sides changed the definition differently (or one dropped what the other changed).
        const canTakeTheirs = strategy === 'theirs' && o !== undefined && b !== undefined && unchangedRows(name)
        conflict(any, 'both sides changed this table\'s definition differently', sqls, strategy === 'ours' ? 'ours' : canTakeTheirs ? 'theirs' : null)
        if (canTakeTheirs) {
          if (t) replaceTable(name, t)
          else dropTable(name, b)
        } else if (strategy !== 'ours' || !o || !t) out.blocked.add(name)
        continue
      }
      if (!b && t) {
        db.exec(t.sql)
        copyRows(name)
        out.settled.add(name)
        out.applied.push({ change: 'added', type: 'table', name, table: name, how: 'create' })
      } else if (b && !t) {
        if (!o) continue
        if (unchangedRows(name)) dropTable(name, b)
        else {
          conflict(any, 'the source dropped this table; the target changed its rows', sqls, strategy === 'fail' ? null : strategy)
          if (strategy === 'theirs') dropTable(name, b)
          else out.settled.add(name)
        }
      } else if (b && t) {
        const added = appendedColumns(db, b, t, tableColumns(db, schemas.base, name), tableColumns(db, schemas.theirs, name))
        if (added) {
          for (const def of added.defs) db.exec(`ALTER TABLE ${q(schemas.ours, name)} ADD COLUMN ${def}`)
          out.applied.push({ change: 'changed', type: 'table', name, table: name, how: `add column ${added.names.join(', ')}` })
        } else if (unchangedRows(name) && indexesOf(B, name) === indexesOf(O, name)) {
          replaceTable(name, t)
        } else {
          conflict(any, 'the source rebuilt this table (not only added columns); the target changed its rows or indexes, which cannot be mapped onto the new definition', sqls, strategy === 'ours' ? 'ours' : null)
          if (strategy !== 'ours') out.blocked.add(name)
        }
      }
      continue
    }
    // Indexes and views.
    if (replaced.has(any.table) && any.type === 'index') continue
    if (!theirsOnly) {
      conflict(any, `both sides changed this ${any.type} differently`, sqls, strategy === 'fail' ? null : strategy)
      if (strategy !== 'theirs') continue
    }
    if (o && (o.type !== 'index' || existsTable(db, schemas.ours, o.table))) db.exec(`DROP ${o.type.toUpperCase()} ${q(schemas.ours, o.name)}`)
    if (t) out.deferred.push({ sql: t.sql, type: t.type, table: t.table })
    out.applied.push({ change: changeOf(b, t), type: any.type, name: any.name, table: any.table, how: !t ? 'drop' : o ? 'recreate' : 'create' })
  }
  // A trigger stays untouched unless its table is written or the merge changes the trigger itself.
  const touched = (k: string): boolean => triggers.get(k) !== O.get(k)?.sql || written.has((T.get(k) ?? O.get(k))!.table) || replaced.has((T.get(k) ?? O.get(k))!.table)
  for (const [k, o] of O) if (o.type === 'trigger' && touched(k)) db.exec(`DROP TRIGGER IF EXISTS ${q(schemas.ours, o.name)}`)
  for (const [k, sql] of triggers) if (touched(k)) out.deferred.push({ sql, type: 'trigger', table: (T.get(k) ?? O.get(k))!.table })
  return out

  function copyRows(name: string): void {
    const cols = tableColumns(db, schemas.theirs, name).map((c) => quoteId(c.name))
    const alias = rowidAlias(db, name, [{ schema: schemas.theirs, columns: tableColumns(db, schemas.theirs, name) }])
    const all = alias ? [alias, ...cols] : cols
    db.exec(`INSERT INTO ${q(schemas.ours, name)} (${all.join(', ')}) SELECT ${all.join(', ')} FROM ${q(schemas.theirs, name)}`)
  }
  function dropTable(name: string, b: SchemaObject): void {
    db.exec(`DROP TABLE ${q(schemas.ours, name)}`)
    out.settled.add(name)
    out.applied.push({ change: 'removed', type: 'table', name, table: b.table, how: 'drop' })
  }
  function replaceTable(name: string, t: SchemaObject): void {
    db.exec(`DROP TABLE ${q(schemas.ours, name)}`)
    db.exec(t.sql)
    copyRows(name)
    for (const x of T.values()) if (x.type === 'index' && x.table === name) out.deferred.push({ sql: x.sql, type: 'index', table: name })
    replaced.add(name)
    out.settled.add(name)
    out.applied.push({ change: 'changed', type: 'table', name, table: name, how: 'replace table' })
  }
}

/**
 * The column definitions `theirs` appended to `base` with `ALTER TABLE … ADD COLUMN`, or null when
 * the change is anything else: the definition must be base's up to its closing parenthesis,
 * then `, <definitions>`, then base's tail (table options), and the columns base had must be
 * unchanged.
 */
export function appendedColumns(
  _db: BetterSqlite3.Database,
  base: SchemaObject,
  theirs: SchemaObject,
  colsB: readonly ColumnInfo[],
  colsT: readonly ColumnInfo[],
): { names: string[]; defs: string[] } | null {
  if (colsT.length <= colsB.length) return null
  if (colsB.some((c, i) => JSON.stringify(c) !== JSON.stringify(colsT[i]))) return null
  const close = base.sql.lastIndexOf(')')
  if (close < 0) return null
  const head = base.sql.slice(0, close).trimEnd()
  const tail = base.sql.slice(close)
  if (!theirs.sql.startsWith(head) || !theirs.sql.endsWith(tail)) return null
  const middle = theirs.sql.slice(head.length, theirs.sql.length - tail.length).trim()
  if (!middle.startsWith(',')) return null
  const defs = splitTopLevel(middle.slice(1))
  const names = colsT.slice(colsB.length).map((c) => c.name)
  return defs.length === names.length ? { names, defs } : null
}

/** Split SQL at commas outside parentheses, quotes and brackets. */
function splitTopLevel(sql: string): string[] {
  const out: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const end = c === '[' ? ']' : c
      i++
      while (i < sql.length && !(sql[i] === end && sql[i + 1] !== end)) i += sql[i] === end ? 2 : 1
    } else if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === ',' && depth === 0) {
      out.push(sql.slice(start, i).trim())
      start = i + 1
    }
  }
  out.push(sql.slice(start).trim())
  return out.filter((d) => d.length > 0)
}

/** Whether the rows of `table` differ between two schemas (all columns, and the rowid where there is one). */
export function rowsDiffer(db: BetterSqlite3.Database, table: string, a: string, b: string): boolean {
  const colsA = tableColumns(db, a, table)
  const colsB = tableColumns(db, b, table)
  if (JSON.stringify(colsA.map((c) => c.name)) !== JSON.stringify(colsB.map((c) => c.name))) return true
  const alias = rowidAlias(db, table, [
    { schema: a, columns: colsA },
    { schema: b, columns: colsB },
  ])
  const cols = [...(alias ? [alias] : []), ...colsA.map((c) => quoteId(c.name))].join(', ')
  const sel = (s: string): string => `SELECT ${cols} FROM ${quoteId(s)}.${quoteId(table)}`
  const row = db.prepare(`SELECT EXISTS (${sel(a)} EXCEPT ${sel(b)}) OR EXISTS (${sel(b)} EXCEPT ${sel(a)}) AS d`).get() as { d: number }
  return Number(row.d) !== 0
}

function indexesOf(objects: ReadonlyMap<string, SchemaObject>, table: string): string {
  return [...objects.values()]
    .filter((o) => o.type === 'index' && o.table === table)
    .map((o) => o.sql)
    .sort()
    .join('\n')
}

function existsTable(db: BetterSqlite3.Database, schema: string, table: string): boolean {
  return db.prepare(`SELECT 1 FROM ${quoteId(schema)}.sqlite_schema WHERE type = 'table' AND name = ?`).get(table) !== undefined
}

/** Virtual tables and their shadow tables of `schema`. */
function specialTables(db: BetterSqlite3.Database, schema: string): string[] {
  return (db.prepare("SELECT name FROM pragma_table_list WHERE schema = ? AND type IN ('virtual', 'shadow')").all(schema) as { name: string }[]).map((r) => r.name)
}

function changeOf(b: SchemaObject | undefined, t: SchemaObject | undefined): AppliedSchemaChange['change'] {
  return !b ? 'added' : !t ? 'removed' : 'changed'
}

const TYPE_ORDER: Record<string, number> = { table: 0, index: 1, view: 2, trigger: 3 }

function byTypeThenName(a: string, b: string): number {
  const [ta, na] = [a.slice(0, a.indexOf(':')), a.slice(a.indexOf(':') + 1)]
  const [tb, nb] = [b.slice(0, b.indexOf(':')), b.slice(b.indexOf(':') + 1)]
  return TYPE_ORDER[ta]! - TYPE_ORDER[tb]! || (na < nb ? -1 : na > nb ? 1 : 0)
}
