import type BetterSqlite3 from 'better-sqlite3'
import type { KeyRange } from './changed-owners.js'
import type { KeyValue } from './record-key.js'
import { plainValue, quoteId, rowidAlias, tableColumns, type ColumnInfo, type SqlValue } from './sql-catalog.js'

/**
 * How a table's rows were compared: `ranges` only the rowids the differing pages cover (see
 * `TableRowDiff.ranges`), `full` the whole table (`TableRowDiff.fullReason` says why).
 */
export type RowDiffMethod = 'ranges' | 'full'

/**
 * Rows to compare: those whose rowid (read through `alias`) lies in one of `ranges`, or, for a
 * WITHOUT ROWID table, whose primary key (the columns `key`, compared as a row value) lies in one
 * of `keyRanges`. Both ends inclusive.
 */
export type RowScope = { alias: string; ranges: readonly { from: bigint; to: bigint }[] } | { key: readonly string[]; keyRanges: readonly KeyRange[] }

/** One added, removed or changed row. */
export interface RowChange {
  /** The key columns and their values (`{}` for a table compared without a key). */
  key: Record<string, SqlValue>
  /** Removed: every column in `a`. Changed: the changed columns in `a`. Added: null. */
  before: Record<string, SqlValue> | null
  /** Added: every column in `b`. Changed: the changed columns in `b`. Removed: null. */
  after: Record<string, SqlValue> | null
}

/** How rows of a table were matched between the two sides. */
export type RowKeyKind = 'primary key' | 'rowid' | 'none'

/** The row differences of one table present on both sides. */
export interface TableRowDiff {
  table: string
  keyKind: RowKeyKind
  /** The columns rows were matched on (`['rowid']` for the rowid); empty without a key. */
  key: string[]
  /** Why the comparison is limited, when it is (no key). */
  note: string | null
  /** Exact counts. */
  added: number
  removed: number
  changed: number
  /** The first rows of each kind in key order, at most `maxRows` each. */
  rows: { added: RowChange[]; removed: RowChange[]; changed: RowChange[] }
  /** Some counted rows are not listed. */
  truncated: boolean
  /** Whether only the key ranges the page diff points at were compared, or the whole table. */
  method: RowDiffMethod
  /** `ranges`: how many disjoint rowid ranges were compared. Null for `full`. */
  ranges: number | null
  /** `full`: why no ranges could be used. Null for `ranges`. */
  fullReason: string | null
}

/**
 * Compare the rows of `table` between schemas `schemaA` and `schemaB` of one connection, in SQL:
 * rows are matched on the primary key when both sides declare the same one, else on the rowid;
 * a row is changed when any column differs in type or value (binary comparison, so `'A'` vs
 * `'a'` and `1` vs `1.0` are changes). A column present on one side only reads as NULL on the
 * other, so filling a new column shows as changed rows and adding one that stays NULL does not.
 * A table with neither a shared key nor a usable rowid is compared as sets of distinct rows:
 * counts of rows only in `a` or only in `b`, no changed rows (a change shows as removed plus
 * added). `maxRows` caps the rows listed per kind; the counts are always exact.
 *
 * With `scope`, only rows of `a` and `b` whose rowid lies in the scope's ranges are candidates
 * (their matches on the other side are looked up anywhere). The result equals the whole-table
 * comparison when every row outside the ranges is the same on both sides, which is what ranges
 * taken from the page diff guarantee. A table compared without a key ignores `scope`.
 */
export function tableRowDiff(
  db: BetterSqlite3.Database,
  table: string,
  schemaA: string,
  schemaB: string,
  maxRows: number,
  scope: RowScope | null = null,
  fullReason = 'whole-table comparison asked for',
): TableRowDiff {
  const colsA = tableColumns(db, schemaA, table)
  const colsB = tableColumns(db, schemaB, table)
  const pkA = primaryKey(colsA)
  const pkB = primaryKey(colsB)
  const names = [...colsA.map((c) => c.name), ...colsB.map((c) => c.name).filter((n) => !colsA.some((c) => c.name === n))]
  const qa = `${quoteId(schemaA)}.${quoteId(table)}`
  const qb = `${quoteId(schemaB)}.${quoteId(table)}`
  const inA = new Set(colsA.map((c) => c.name))
  const inB = new Set(colsB.map((c) => c.name))
  const colX = (n: string): string => (inA.has(n) ? `x.${quoteId(n)}` : 'NULL')
  const colY = (n: string): string => (inB.has(n) ? `y.${quoteId(n)}` : 'NULL')

  let keyKind: RowKeyKind
  let key: string[]
  let keyExpr: (alias: 'x' | 'y') => string[]
  let match: string
  if (pkA.length > 0 && pkA.join('\0') === pkB.join('\0')) {
    keyKind = 'primary key'
    key = pkA
    keyExpr = (t) => key.map((k) => `${t}.${quoteId(k)}`)
    // IS rather than =: a rowid table's non-integer primary key may hold NULLs.
    match = key.map((k) => `x.${quoteId(k)} IS y.${quoteId(k)}`).join(' AND ')
  } else {
    const alias = rowidAlias(db, table, [
      { schema: schemaA, columns: colsA },
      { schema: schemaB, columns: colsB },
    ])
    if (alias === null) return { ...keylessDiff(db, table, qa, qb, names, colX, colY, maxRows), method: 'full', ranges: null, fullReason: 'no usable key' }
    keyKind = 'rowid'
    key = ['rowid']
    keyExpr = (t) => [`${t}.${alias}`]
    match = `x.${alias} = y.${alias}`
  }
  const differs = (n: string): string => `(typeof(${colX(n)}) IS NOT typeof(${colY(n)}) OR +${colX(n)} IS NOT +${colY(n)} COLLATE BINARY)`
  const anyDiffers = names.map(differs).join(' OR ')
  const { ranges, inScope, params } = scopeSql(scope)
  const onlyIn = (from: string, self: 'x' | 'y', other: string, otherAlias: 'x' | 'y'): string =>
    `FROM ${ranges}${from} AS ${self} WHERE ${inScope(self)}NOT EXISTS (SELECT 1 FROM ${other} AS ${otherAlias} WHERE ${match})`
  const fromAdded = onlyIn(qb, 'y', qa, 'x')
  const fromRemoved = onlyIn(qa, 'x', qb, 'y')
  const fromChanged = `FROM ${ranges}${qa} AS x JOIN ${qb} AS y ON ${match} WHERE ${inScope('x')}(${anyDiffers})`
  const count = (from: string): number => Number((db.prepare(`SELECT count(*) AS n ${from}`).get(...params) as { n: number }).n)
  const counts = { added: count(fromAdded), removed: count(fromRemoved), changed: count(fromChanged) }

  const keyOf = (values: readonly unknown[]): Record<string, SqlValue> => Object.fromEntries(key.map((k, i) => [k, plainValue(values[i])]))
  const list = (sql: string): unknown[][] => (maxRows > 0 ? (db.prepare(sql).safeIntegers(true).raw(true).all(maxRows, ...params) as unknown[][]) : [])
  const sideRows = (from: string, t: 'x' | 'y', cols: readonly ColumnInfo[]): RowChange[] => {
    const k = keyExpr(t)
    return list(`SELECT ${[...k, ...cols.map((c) => `${t}.${quoteId(c.name)}`)].join(', ')} ${from} ORDER BY ${k.join(', ')} LIMIT ?`).map((r) => {
      const row = Object.fromEntries(cols.map((c, i) => [c.name, plainValue(r[k.length + i])]))
      return t === 'y' ? { key: keyOf(r), before: null, after: row } : { key: keyOf(r), before: row, after: null }
    })
  }
  const kx = keyExpr('x')
  const changed = list(
    `SELECT ${[...kx, ...names.map(differs), ...names.map(colX), ...names.map(colY)].join(', ')} ${fromChanged} ORDER BY ${kx.join(', ')} LIMIT ?`,
  ).map((r) => {
    const before: Record<string, SqlValue> = {}
    const after: Record<string, SqlValue> = {}
    names.forEach((n, i) => {
      if (Number(r[kx.length + i]) === 0) return
      before[n] = plainValue(r[kx.length + names.length + i])
      after[n] = plainValue(r[kx.length + 2 * names.length + i])
    })
    return { key: keyOf(r), before, after }
  })
  const rows = { added: sideRows(fromAdded, 'y', colsB), removed: sideRows(fromRemoved, 'x', colsA), changed }
  const truncated = counts.added > rows.added.length || counts.removed > rows.removed.length || counts.changed > rows.changed.length
  const how = scope ? { method: 'ranges' as const, ranges: 'alias' in scope ? scope.ranges.length : scope.keyRanges.length, fullReason: null } : { method: 'full' as const, ranges: null, fullReason }
  return { table, keyKind, key, note: null, ...counts, rows, truncated, ...how }
}

/**
 * SQL that limits a query to `scope`: `ranges` goes before the scoped table in FROM (rowid
 * ranges drive the loop — CROSS JOIN keeps them outermost — each a rowid range scan),
 * `inScope(alias)` starts its WHERE clause, and `params` are bound after any other anonymous
 * parameter (key ranges: one named parameter per bound, each range an OR term the planner
 * searches the primary key for). All empty without a scope.
 */
export function scopeSql(scope: RowScope | null): { ranges: string; inScope: (alias: string) => string; params: unknown[] } {
  if (!scope) return { ranges: '', inScope: () => '', params: [] }
  if ('alias' in scope) {
    // Integers only: safe inline, and one statement however many ranges.
    const json = `[${scope.ranges.map((r) => `[${r.from},${r.to}]`).join(',')}]`
    return { ranges: `json_each('${json}') AS r CROSS JOIN `, inScope: (t) => `${t}.${scope.alias} BETWEEN r.value->>0 AND r.value->>1 AND `, params: [] }
  }
  if (scope.keyRanges.length === 0) return { ranges: '', inScope: () => '0 AND ', params: [] }
  const named: Record<string, unknown> = {}
  const bind = (values: readonly KeyValue[], name: string): string => {
    values.forEach((v, i) => (named[`${name}_${i}`] = v instanceof Uint8Array ? Buffer.from(v) : v))
    return `(${values.map((_, i) => `@${name}_${i}`).join(', ')})`
  }
  const bounds = scope.keyRanges.map((r, i) => ({ from: r.from && bind(r.from, `kf${i}`), to: r.to && bind(r.to, `kt${i}`) }))
  return {
    ranges: '',
    inScope: (t) => {
      const cols = `(${scope.key.map((k) => `${t}.${quoteId(k)}`).join(', ')})`
      const terms = bounds.map((b) => [b.from && `${cols} >= ${b.from}`, b.to && `${cols} <= ${b.to}`].filter(Boolean).join(' AND '))
      return `(${terms.map((x) => `(${x})`).join(' OR ')}) AND `
    },
    params: [named],
  }
}

function primaryKey(cols: readonly ColumnInfo[]): string[] {
  return cols
    .filter((c) => c.pk > 0)
    .sort((p, q) => p.pk - q.pk)
    .map((c) => c.name)
}

function keylessDiff(
  db: BetterSqlite3.Database,
  table: string,
  qa: string,
  qb: string,
  names: readonly string[],
  colX: (n: string) => string,
  colY: (n: string) => string,
  maxRows: number,
): Omit<TableRowDiff, 'method' | 'ranges' | 'fullReason'> {
  const selA = `SELECT ${names.map((n) => `${colX(n)} AS ${quoteId(n)}`).join(', ')} FROM ${qa} AS x`
  const selB = `SELECT ${names.map((n) => `${colY(n)} AS ${quoteId(n)}`).join(', ')} FROM ${qb} AS y`
  const onlyB = `${selB} EXCEPT ${selA}`
  const onlyA = `${selA} EXCEPT ${selB}`
  const count = (q: string): number => Number((db.prepare(`SELECT count(*) AS n FROM (${q})`).get() as { n: number }).n)
  const list = (q: string): Record<string, SqlValue>[] =>
    maxRows > 0
      ? (db.prepare(`${q} LIMIT ?`).safeIntegers(true).raw(true).all(maxRows) as unknown[][]).map((r) => Object.fromEntries(names.map((n, i) => [n, plainValue(r[i])])))
      : []
  const added = count(onlyB)
  const removed = count(onlyA)
  const rows = {
    added: list(onlyB).map((after) => ({ key: {}, before: null, after })),
    removed: list(onlyA).map((before) => ({ key: {}, before, after: null })),
    changed: [],
  }
  return {
    table,
    keyKind: 'none',
    key: [],
    note: 'no primary key shared by both sides and no usable rowid: compared as sets of distinct rows (duplicates count once; a changed row shows as removed and added)',
    added,
    removed,
    changed: 0,
    rows,
    truncated: added > rows.added.length || removed > rows.removed.length,
  }
}
