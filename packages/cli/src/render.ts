// Helpers that turn results into text for people. Nothing here is used for `--json`.

import type { SqlValue } from '@strata/sqlite'

/** `1.5 MiB`, `512 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} ${units[u]}` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`
}

/** The first 12 hex digits of a snapshot id (enough to name it in any command). */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 12) : '-'
}

const CELL_SPECIAL = /[\n\t]/

/** One cell of a result table as text: NULL, numbers, text (one line), blobs as `x'…'`. */
export function cellText(v: unknown, max = 60): string {
  let s: string
  if (typeof v === 'string') s = CELL_SPECIAL.test(v) ? v.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t') : v
  else if (typeof v === 'bigint' || typeof v === 'number') s = '' + v
  else if (v === null || v === undefined) s = 'NULL'
  else if (v instanceof Uint8Array) s = `x'${Buffer.from(v.subarray(0, 32)).toString('hex')}${v.length > 32 ? '…' : ''}'`
  else s = String(v).replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t')
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}

/**
 * A left-aligned text table with a header and a rule under it. Numbers are right-aligned.
 * Returns one string per line.
 */
export function table(columns: readonly string[], rows: readonly (readonly unknown[])[]): string[] {
  const layout = tableLayout(columns, rows)
  return [layout.line(columns, true), layout.rule, ...rows.map((r) => layout.line(columns.map((_, i) => cellText(r[i])), false))]
}

/**
 * The column widths and alignment of a table, decided from `rows` (any number: no value is
 * spread into one call): `line` lays out one row's cells (or the header), `values` one row's
 * values (as {@link cellText} shows them), `rule` is the line under the header. Columns whose
 * values are all numbers or NULL are right-aligned.
 */
export function tableLayout(
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
): { line: (cells: readonly string[], isHeader: boolean) => string; values: (values: readonly unknown[]) => string; rule: string } {
  const widths = columns.map((c) => c.length)
  const numeric = columns.map(() => rows.length > 0)
  for (const r of rows) {
    for (let i = 0; i < columns.length; i++) {
      const v = r[i]
      widths[i] = Math.max(widths[i]!, cellText(v).length)
      if (numeric[i] && !(typeof v === 'number' || typeof v === 'bigint' || v === null)) numeric[i] = false
    }
  }
  const cell = (c: string, i: number, isHeader: boolean): string => (numeric[i] && !isHeader ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))
  const line = (cells: readonly string[], isHeader: boolean): string => {
    let s = ''
    for (let i = 0; i < cells.length; i++) s += (i > 0 ? '  ' : '') + cell(cells[i]!, i, isHeader)
    return s.trimEnd()
  }
  const values = (vs: readonly unknown[]): string => {
    let s = ''
    for (let i = 0; i < columns.length; i++) s += (i > 0 ? '  ' : '') + cell(cellText(vs[i]), i, false)
    return s.trimEnd()
  }
  return { line, values, rule: widths.map((w) => '-'.repeat(w)).join('  ') }
}

/** `key: value` lines with the keys aligned. */
export function keyValues(pairs: readonly (readonly [string, unknown])[]): string[] {
  const w = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${v === null || v === undefined || v === '' ? '-' : String(v)}`)
}

/** A value as an SQL literal, cut short: 'text', 42, NULL, x'0102'. */
export function sqlLiteral(v: SqlValue): string {
  if (v === null) return 'NULL'
  if (v instanceof Uint8Array) return `x'${Buffer.from(v.subarray(0, 16)).toString('hex')}${v.length > 16 ? '…' : ''}'`
  if (typeof v === 'string') {
    const s = v.replace(/\r?\n/g, '\\n')
    return `'${(s.length > 40 ? s.slice(0, 39) + '…' : s).replace(/'/g, "''")}'`
  }
  return String(v)
}
