import type BetterSqlite3 from 'better-sqlite3'
import { plainValue, quoteId, rowidAlias, tableColumns, type ColumnInfo, type SqlValue } from '../diff/sql-catalog.js'
import { scopeSql, type RowScope } from '../diff/row-diff.js'
import type { ConflictColumn, MergeConflict } from './conflict.js'

/** How the rows of a table are matched across the three sides. */
export type MergeKeyKind = 'rowid' | 'integer primary key' | 'primary key'

/** What a merge did (or, dry or failed, would do) to one table's rows. */
export interface TableMergeResult {
  table: string
  keyKind: MergeKeyKind
  /** The key columns (`['rowid']` for a table without an INTEGER PRIMARY KEY). */
  key: string[]
  /** Rows the source changed since the base (inserted, updated or deleted there). */
  sourceChanges: number
  inserted: number
  updated: number
  deleted: number
  /**
   * Rows the source inserted under a rowid the target had also used for a different row, in a
   * table whose rowid is not a declared key (no INTEGER PRIMARY KEY): inserted under a new rowid.
   */
  renumbered: { from: SqlValue; to: SqlValue }[]
  conflicts: number
}

/** The conflict strategy as a row merge applies it. */
export type RowStrategy = 'fail' | 'ours' | 'theirs'

/** The schemas a row merge reads: the target (writable, `main`), the base (null: the table is new) and the source. */
export interface MergeSchemas {
  ours: string
  base: string | null
  theirs: string
}

/** A row, as a merge sees it: absent, or its values by column name. */
type Row = Map<string, unknown> | null

interface KeySpec {
  kind: MergeKeyKind
  /** SQL names of the key columns in every side (a rowid alias, or column names). */
  sql: string[]
  /** Names reported in conflicts and results. */
  names: string[]
}

/**
 * Three-way merge of one table's rows into `schemas.ours` (the target's working database), in
 * SQL plus one pass over the rows the source changed:
 * - the rows that differ between base and source (`schemas.base`, `schemas.theirs`) are found in
 *   SQL, with their base, target and source versions side by side;
 * - a row changed on the source only takes the source's cells; one changed identically on both
 *   sides is left alone; changes to different cells of one row merge cell by cell;
 * - a row changed differently on both sides, deleted on one and changed on the other, or inserted
 *   on both under one key with different values is a conflict naming the key and the columns;
 * - in a table without an INTEGER PRIMARY KEY the rowid is SQLite's row number, not a key the
 *   application chose: a source insert whose rowid the target used for a different row is
 *   inserted under a new rowid (after every other insert), never a conflict;
 * - a source row that breaks a UNIQUE constraint of the target is a `unique` conflict; one that
 *   breaks another constraint (CHECK, NOT NULL) or sets a column the target's table does not
 *   have is a `schema` conflict.
 *
 * A column present on one side only reads, on the sides without it, as its declared default —
 * what `ALTER TABLE … ADD COLUMN` gives existing rows. With strategy `ours` or `theirs` a
 * conflict is resolved by keeping that side's cells; with `fail` conflicting rows are left as
 * the target has them and every other change is still applied (so UNIQUE collisions are found),
 * for the caller to roll back. Triggers must be dropped by the caller: the merge writes results,
 * which each side's triggers already produced.
 *
 * With `scope`, only base and source rows whose rowid lies in its ranges are candidates for the
 * source's changes: rows outside must be the same in base and source (as ranges taken from the
 * page diff between them guarantee).
 */
export function mergeTableRows(
  db: BetterSqlite3.Database,
  table: string,
  schemas: MergeSchemas,
  strategy: RowStrategy,
  scope: RowScope | null = null,
): { result: TableMergeResult; conflicts: MergeConflict[] } {
  const colsO = tableColumns(db, schemas.ours, table)
  const colsT = tableColumns(db, schemas.theirs, table)
  const colsB = schemas.base === null ? [] : tableColumns(db, schemas.base, table)
  const conflicts: MergeConflict[] = []
  const key = keySpec(db, table, schemas, colsO, colsT, colsB)
  if (typeof key === 'string') {
    conflicts.push({ kind: 'schema', table, key: {}, columns: [], detail: key, resolution: null })
    return { result: { table, keyKind: 'rowid', key: [], sourceChanges: 0, inserted: 0, updated: 0, deleted: 0, renumbered: [], conflicts: 1 }, conflicts }
  }
  const names = unionNames(colsO, colsT, colsB)
  const defaults = new Map<string, string>()
  for (const c of [...colsB, ...colsO, ...colsT]) if (!defaults.has(c.name)) defaults.set(c.name, c.default ?? 'NULL')
  const has = (cols: readonly ColumnInfo[]): Set<string> => new Set(cols.map((c) => c.name))
  const inO = has(colsO)
  const inT = has(colsT)
  const inB = has(colsB)
  const value = (alias: string, present: ReadonlySet<string>, n: string): string => (present.has(n) ? `${alias}.${quoteId(n)}` : `(${defaults.get(n)})`)
  const differs = (n: string): string => {
    const x = value('b', inB, n)
    const y = value('t', inT, n)
    return `(typeof(${x}) IS NOT typeof(${y}) OR +${x} IS NOT +${y} COLLATE BINARY)`
  }
  const qt = (schema: string): string => `${quoteId(schema)}.${quoteId(table)}`
  const match = (x: string, y: string): string => key.sql.map((k) => `${x}.${k} = ${y}.${k}`).join(' AND ')
  const keyOf = (alias: string): string => key.sql.map((k, i) => `${alias}.${k} AS k${i}`).join(', ')
  const compared = names.filter((n) => inB.has(n) || inT.has(n))
  const { ranges, inScope, params } = scopeSql(schemas.base === null ? null : scope)
  const delta =
    schemas.base === null
      ? `SELECT ${keyOf('t')} FROM ${qt(schemas.theirs)} AS t`
      : `SELECT ${keyOf('b')} FROM ${ranges}${qt(schemas.base)} AS b LEFT JOIN ${qt(schemas.theirs)} AS t ON ${match('b', 't')} ` +
        `WHERE ${inScope('b')}(t.${key.sql[0]} IS NULL${compared.length ? ` OR ${compared.map(differs).join(' OR ')}` : ''}) ` +
        `UNION ALL SELECT ${keyOf('t')} FROM ${ranges}${qt(schemas.theirs)} AS t WHERE ${inScope('t')}NOT EXISTS (SELECT 1 FROM ${qt(schemas.base)} AS b WHERE ${match('b', 't')})`
  const dk = key.sql.map((_, i) => `d.k${i}`)
  const side = (alias: string, schema: string | null, present: ReadonlySet<string>): { cols: string; join: string } =>
    schema === null
      ? { cols: ['0', ...names.map(() => 'NULL')].join(', '), join: '' }
      : {
          cols: [`${alias}.${key.sql[0]} IS NOT NULL`, ...names.map((n) => value(alias, present, n))].join(', '),
          join: ` LEFT JOIN ${qt(schema)} AS ${alias} ON ${key.sql.map((k, i) => `${alias}.${k} = d.k${i}`).join(' AND ')}`,
        }
  const sb = side('b', schemas.base, inB)
  const so = side('o', schemas.ours, inO)
  const st = side('t', schemas.theirs, inT)
  const rows = db
    .prepare(`WITH d AS (${delta}) SELECT ${[...dk, sb.cols, so.cols, st.cols].join(', ')} FROM d${sb.join}${so.join}${st.join} ORDER BY ${dk.join(', ')}`)
    .safeIntegers(true)
    .raw(true)
    .all(...params) as unknown[][]

  const result: TableMergeResult = { table, keyKind: key.kind, key: key.names, sourceChanges: rows.length, inserted: 0, updated: 0, deleted: 0, renumbered: [], conflicts: 0 }
  const apply = new Applier(db, table, schemas.ours, key, colsO)
  const k = key.sql.length
  const w = names.length + 1
  const rowAt = (r: unknown[], at: number): Row => (Number(r[at]) === 0 ? null : new Map(names.map((n, i) => [n, r[at + 1 + i]])))
  const inserts: (() => void)[] = []
  const renumbered: (() => void)[] = []
  const defaultValues = new Map<string, unknown>()
  const defaultValue = (n: string): unknown => {
    if (!defaultValues.has(n)) defaultValues.set(n, (db.prepare(`SELECT (${defaults.get(n)})`).safeIntegers(true).raw(true).get() as unknown[])[0])
    return defaultValues.get(n)
  }
  for (const r of rows) {
    const keyValues = r.slice(0, k)
    const keyObj = Object.fromEntries(key.names.map((n, i) => [n, plainValue(keyValues[i])]))
    const b = rowAt(r, k)
    const o = rowAt(r, k + w)
    const t = rowAt(r, k + 2 * w)
    const conflict = (kind: MergeConflict['kind'], cols: string[], detail: string, resolution: 'ours' | 'theirs' | null): void => {
      conflicts.push({ kind, table, key: keyObj, columns: cols.map((n) => column(n, b, o, t)), detail, resolution })
    }
    const resolvable = strategy === 'fail' ? null : strategy
    const onError = (e: unknown, cols: string[]): void => {
      const c = constraintConflict(e, table)
      if (!c) throw e
      const holder = c.kind === 'unique' && t ? apply.holderOf(c.columns, t) : null
      conflict(c.kind, c.columns.length ? c.columns : cols, holder ? `${c.detail}; the target's row ${holder} holds the same value` : c.detail, null)
    }
    // Source cells the target's table cannot hold (compared with the base row, or the column's default for an insert).
    const missing = (row: Map<string, unknown>, ref: Row): string[] => names.filter((n) => !inO.has(n) && inT.has(n) && !same(row.get(n), ref ? ref.get(n) : defaultValue(n)))
    if (b && t) {
      const changedT = names.filter((n) => !same(t.get(n), b.get(n)))
      if (!o) {
        conflict('delete/update', changedT, 'the target deleted this row; the source changed it', resolvable)
        if (strategy === 'theirs') inserts.push(() => apply.insert(keyValues, t, true, (e) => onError(e, changedT), () => result.inserted++))
        continue
      }
      const take: string[] = []
      const clash: string[] = []
      for (const n of changedT) {
        if (same(o.get(n), b.get(n))) take.push(n)
        else if (!same(o.get(n), t.get(n))) clash.push(n)
      }
      const lost = missing(t, b)
      if (lost.length) {
        conflict('schema', lost, `the source changed column${lost.length > 1 ? 's' : ''} ${lost.join(', ')}, which the target's table does not have`, strategy === 'ours' ? 'ours' : null)
      }
      if (clash.length) {
        conflict('update/update', clash, 'both sides changed these cells to different values', resolvable)
        if (strategy === 'theirs') take.push(...clash)
      }
      const cells = take.filter((n) => inO.has(n))
      if (cells.length && (clash.length === 0 || strategy !== 'fail')) apply.update(keyValues, cells, t, (e) => onError(e, cells), () => result.updated++)
    } else if (b && !t) {
      if (!o) continue
      const changedO = names.filter((n) => !same(o.get(n), b.get(n)))
      if (changedO.length === 0) apply.remove(keyValues, () => result.deleted++)
      else {
        conflict('update/delete', changedO, 'the target changed this row; the source deleted it', resolvable)
        if (strategy === 'theirs') apply.remove(keyValues, () => result.deleted++)
      }
    } else if (t) {
      const lost = missing(t, null)
      if (lost.length) conflict('schema', lost, `the source inserted values in column${lost.length > 1 ? 's' : ''} ${lost.join(', ')}, which the target's table does not have`, strategy === 'ours' ? 'ours' : null)
      if (!o) {
        if (lost.length === 0 || strategy === 'ours') inserts.push(() => apply.insert(keyValues, t, true, (e) => onError(e, []), () => result.inserted++))
        continue
      }
      const differ = names.filter((n) => inO.has(n) && !same(o.get(n), t.get(n)))
      if (differ.length === 0) continue
      if (key.kind === 'rowid') {
        // Only SQLite's row number collides: the source's row goes in under a new one.
        renumbered.push(() =>
          apply.insert(keyValues, t, false, (e) => onError(e, []), (to) => {
            result.inserted++
            result.renumbered.push({ from: plainValue(keyValues[0]), to: plainValue(to) })
          }),
        )
        continue
      }
      conflict('insert/insert', differ, 'both sides inserted a row with this key, with different values', resolvable)
      if (strategy === 'theirs') apply.update(keyValues, differ, t, (e) => onError(e, differ), () => result.updated++)
    }
  }
  // Inserts under the source's own keys first, then the renumbered ones past every key in use.
  for (const f of inserts) f()
  for (const f of renumbered) f()
  result.conflicts = conflicts.length
  return { result, conflicts }
}

function keySpec(
  db: BetterSqlite3.Database,
  table: string,
  schemas: MergeSchemas,
  colsO: readonly ColumnInfo[],
  colsT: readonly ColumnInfo[],
  colsB: readonly ColumnInfo[],
): KeySpec | string {
  const sides = [
    { schema: schemas.ours, columns: colsO },
    { schema: schemas.theirs, columns: colsT },
    ...(schemas.base === null ? [] : [{ schema: schemas.base, columns: colsB }]),
  ]
  const pks = sides.map((s) => primaryKey(s.columns))
  const ipk = pks.map((pk, i) => (pk.length === 1 && sides[i]!.columns.find((c) => c.name === pk[0])!.type.toUpperCase() === 'INTEGER' ? pk[0]! : null))
  const alias = rowidAlias(db, table, sides)
  if (ipk.every((x) => x !== null && x === ipk[0]) && (alias !== null || isRowidTable(db, schemas.ours, table))) {
    return { kind: 'integer primary key', sql: [quoteId(ipk[0]!)], names: [ipk[0]!] }
  }
  if (alias !== null) {
    if (ipk.some((x) => x !== null)) return `the INTEGER PRIMARY KEY of ${table} differs between the sides; rows cannot be matched`
    return { kind: 'rowid', sql: [alias], names: ['rowid'] }
  }
  if (pks[0]!.length > 0 && pks.every((pk) => pk.join('\0') === pks[0]!.join('\0'))) {
    return { kind: 'primary key', sql: pks[0]!.map(quoteId), names: pks[0]! }
  }
  return `${table} has no rowid and no primary key shared by every side; rows cannot be matched`
}

function isRowidTable(db: BetterSqlite3.Database, schema: string, table: string): boolean {
  const row = db.prepare('SELECT wr FROM pragma_table_list(?, ?)').get(table, schema) as { wr: number } | undefined
  return row !== undefined && Number(row.wr) === 0
}

function primaryKey(cols: readonly ColumnInfo[]): string[] {
  return cols
    .filter((c) => c.pk > 0)
    .sort((p, q) => p.pk - q.pk)
    .map((c) => c.name)
}

function unionNames(...sides: (readonly ColumnInfo[])[]): string[] {
  const out: string[] = []
  for (const cols of sides) for (const c of cols) if (!out.includes(c.name)) out.push(c.name)
  return out
}

/** Same type and value: SQLite's binary comparison (`1` and `1.0` differ; integers come as bigint). */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0
}

function column(n: string, b: Row, o: Row, t: Row): ConflictColumn {
  const v = (r: Row): SqlValue => (r ? plainValue(r.get(n) ?? null) : null)
  return { name: n, base: v(b), ours: v(o), theirs: v(t) }
}

/** A constraint error of a source row as a conflict, or null for any other error. */
function constraintConflict(e: unknown, table: string): { kind: 'unique' | 'schema'; columns: string[]; detail: string } | null {
  const code = (e as { code?: unknown }).code
  const message = String((e as { message?: unknown }).message)
  if (typeof code !== 'string' || !code.startsWith('SQLITE_CONSTRAINT')) return null
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const cols = (/constraint failed: (.*)$/.exec(message)?.[1] ?? '')
      .split(', ')
      .map((c) => (c.startsWith(`${table}.`) ? c.slice(table.length + 1) : c))
      .filter(Boolean)
    return { kind: 'unique', columns: cols, detail: `the source's row collides with another row of the target: ${message}` }
  }
  return { kind: 'schema', columns: [], detail: `the source's row breaks a constraint of the target's table: ${message}` }
}

/** Prepared writes into the target's table, cached per column set. */
class Applier {
  readonly #db: BetterSqlite3.Database
  readonly #qt: string
  readonly #key: KeySpec
  readonly #cols: ReadonlySet<string>
  readonly #statements = new Map<string, BetterSqlite3.Statement>()

  constructor(db: BetterSqlite3.Database, table: string, schema: string, key: KeySpec, cols: readonly ColumnInfo[]) {
    this.#db = db
    this.#qt = `${quoteId(schema)}.${quoteId(table)}`
    this.#key = key
    this.#cols = new Set(cols.map((c) => c.name))
  }

  #statement(sql: string): BetterSqlite3.Statement {
    let s = this.#statements.get(sql)
    if (!s) this.#statements.set(sql, (s = this.#db.prepare(sql)))
    return s
  }

  #where(): string {
    return this.#key.sql.map((k) => `${k} = ?`).join(' AND ')
  }

  update(key: unknown[], cells: readonly string[], from: Map<string, unknown>, onError: (e: unknown) => void, done: () => void): void {
    try {
      this.#statement(`UPDATE ${this.#qt} SET ${cells.map((n) => `${quoteId(n)} = ?`).join(', ')} WHERE ${this.#where()}`).run(...cells.map((n) => bindable(from.get(n))), ...key.map(bindable))
      done()
    } catch (e) {
      onError(e)
    }
  }

  /** The key (as `name=value`) of a row of the target holding `row`'s values in `columns`, or null. */
  holderOf(columns: readonly string[], row: Map<string, unknown>): string | null {
    if (columns.length === 0 || columns.some((c) => !this.#cols.has(c))) return null
    const found = this.#db
      .prepare(`SELECT ${this.#key.sql.join(', ')} FROM ${this.#qt} WHERE ${columns.map((c) => `${quoteId(c)} IS ?`).join(' AND ')} LIMIT 1`)
      .safeIntegers(true)
      .raw(true)
      .get(...columns.map((c) => bindable(row.get(c)))) as unknown[] | undefined
    return found ? this.#key.names.map((n, i) => `${n}=${String(plainValue(found[i]))}`).join(', ') : null
  }

  remove(key: unknown[], done: () => void): void {
    this.#statement(`DELETE FROM ${this.#qt} WHERE ${this.#where()}`).run(...key.map(bindable))
    done()
  }

  /** Insert `row`'s cells the target's table has; with `keepKey` false a rowid table picks a new rowid. */
  insert(key: unknown[], row: Map<string, unknown>, keepKey: boolean, onError: (e: unknown) => void, done: (rowid: unknown) => void): void {
    const cols = [...row.keys()].filter((n) => this.#cols.has(n))
    const names = [...(keepKey && this.#key.kind === 'rowid' ? [this.#key.sql[0]!] : []), ...cols.map(quoteId)]
    const values = [...(keepKey && this.#key.kind === 'rowid' ? [key[0]] : []), ...cols.map((n) => row.get(n))]
    try {
      const info = this.#statement(`INSERT INTO ${this.#qt} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).safeIntegers(true).run(...values.map(bindable))
      done(info.lastInsertRowid)
    } catch (e) {
      onError(e)
    }
  }
}

/** better-sqlite3 binds bigint and Buffer; values read with safe integers are already those. */
function bindable(v: unknown): unknown {
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v) : v
}
