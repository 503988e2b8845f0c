import type { Command } from 'commander'
import type { DiffLevel, DiffResult, RowChange, SchemaChange, SqlValue, TableRowDiff } from '@strata/sqlite'
import { examples, nonNegativeInt, type App } from '../app.js'
import { sqlRowJson } from '../json.js'
import { shortId, sqlLiteral as literal, table } from '../render.js'
import { CACHE_DIR_ENV } from './sql.js'

/**
 * `strata diff <a> <b> [--tables] [--rows [table]]`: what differs between two branches, tags or
 * snapshots — page counts always (page tables only), the tables and indexes owning the
 * differing pages with `--tables`, schema and row changes with `--rows`.
 */
export function registerDiff(parent: Command, app: App): void {
  const cmd = parent
    .command('diff')
    .description('what differs between two branches, tags or snapshots: pages (instant, from page tables), tables and indexes (--tables), schema and rows (--rows)')
    .argument('<a>', 'branch, tag or snapshot id: the "before" side')
    .argument('<b>', 'branch, tag or snapshot id: the "after" side')
    .option('--tables', 'also name the table or index owning each differing page, with counts (reads the b-tree paths down to those pages)')
    .option('--rows [table]', 'also list schema changes, then added, removed and changed rows per table, or of one table (reads the rows the differing pages cover; a table whose definition changed or that was rebuilt is compared whole, and says so)')
    .option('--max-rows <n>', 'rows listed per table and kind with --rows (counts are always exact; 0 lists none)', nonNegativeInt('--max-rows'), 20)
    .option('--work-dir <dir>', 'where both sides are put for --tables/--rows, removed afterwards (default: the OS temp directory)')
    .option('--hydrate', 'copy both sides whole first, instead of fetching pages as SQLite reads them')
    .option('--exhaustive', 'ignore what the page diff says about where rows sit: name owners with dbstat over both databases and compare every touched table whole (slower; the same answer, as a cross-check)')
    .action(async (a: string, b: string, opts: { tables?: boolean; rows?: string | boolean; maxRows: number; workDir?: string; hydrate?: boolean; exhaustive?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const level: DiffLevel = opts.rows !== undefined ? 'rows' : opts.tables ? 'tables' : 'pages'
      // Loaded on demand: better-sqlite3 is a native module that most commands never need.
      const { diff } = await import('@strata/sqlite')
      const result = await diff(repo, a, b, {
        level,
        maxRows: opts.maxRows,
        ...(typeof opts.rows === 'string' ? { table: opts.rows } : {}),
        ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}),
        ...(ctx.io.env[CACHE_DIR_ENV] ? { cacheDir: ctx.io.env[CACHE_DIR_ENV] } : {}),
        mode: opts.hydrate ? 'file' : 'lazy',
        ...(opts.exhaustive ? { exhaustive: true } : {}),
      })
      if (level === 'pages' && !result.identical) ctx.log(`which tables and rows: strata diff ${a} ${b} --tables (or --rows); both read only what the differing pages lead to`)
      ctx.emit(jsonOf(result), () => render(result))
    })
  examples(
    cmd,
    'strata diff main experiment',
    'strata diff main experiment --tables',
    'strata diff before-migration main --rows',
    'strata diff 3f2a9c1e main --rows users --max-rows 100 --json',
    'strata diff main experiment --rows --exhaustive',
  )
}

/** A diff's result as data, with blobs as `{ "$blob": "<hex>" }` (as `strata sql --json` prints them). */
export function jsonOf(d: DiffResult): unknown {
  const change = (c: RowChange): unknown => ({ key: sqlRowJson(c.key), before: sqlRowJson(c.before), after: sqlRowJson(c.after) })
  return {
    ...d,
    rows: d.rows?.map((t) => ({ ...t, rows: { added: t.rows.added.map(change), removed: t.rows.removed.map(change), changed: t.rows.changed.map(change) } })) ?? null,
  }
}

function render(d: DiffResult): string[] {
  const side = (s: DiffResult['a']): string => (s.branch ?? s.spec) + (s.snapshot.startsWith(s.spec) ? '' : ` @ ${shortId(s.snapshot)}`)
  const lines = [`diff ${side(d.a)} → ${side(d.b)}`]
  if (d.identical) return [...lines, `identical: no page differs (${d.a.pageCount} pages)`]
  const p = d.pages
  lines.push(`pages: ${p.changed} changed, ${p.added} added, ${p.removed} removed (${d.a.pageCount} → ${d.b.pageCount} pages of ${p.pageSize} bytes)`)
  if (d.tables) {
    lines.push('', 'owners of the differing pages:')
    lines.push(...(d.tables.length === 0 ? ['  none'] : table(['TYPE', 'NAME', 'CHANGED', 'ADDED', 'REMOVED'], d.tables.map((t) => [t.type, t.name, t.changed, t.added, t.removed])).map((l) => `  ${l}`)))
  }
  if (d.schema) {
    lines.push('', d.schema.length === 0 ? 'schema: unchanged' : 'schema:')
    lines.push(...d.schema.map(schemaLine))
  }
  if (d.rows) {
    lines.push('', d.rows.length === 0 ? 'rows: no table has added, removed or changed rows' : 'rows:')
    for (const t of d.rows) lines.push(...rowLines(t))
  }
  return lines
}

function schemaLine(c: SchemaChange): string {
  const mark = c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~'
  const what = `${c.type} ${c.name}${c.type === 'index' || c.type === 'trigger' ? ` on ${c.table}` : ''}`
  if (c.change !== 'changed') return `  ${mark} ${what}${c.rows !== null ? ` (${c.rows} row${c.rows === 1 ? '' : 's'})` : ''}`
  const cols = c.columns
  const parts = cols ? [cols.added.length ? `columns added: ${cols.added.join(', ')}` : '', cols.removed.length ? `columns removed: ${cols.removed.join(', ')}` : '', cols.changed.length ? `columns changed: ${cols.changed.join(', ')}` : ''].filter(Boolean) : []
  return `  ${mark} ${what}: ${parts.length ? parts.join('; ') : 'definition changed'}`
}

function rowLines(t: TableRowDiff): string[] {
  const key = t.keyKind === 'none' ? 'no key: compared as sets of distinct rows' : `key ${t.key.join(', ')}`
  const counts = [t.added && `${t.added} added`, t.removed && `${t.removed} removed`, t.changed && `${t.changed} changed`].filter(Boolean).join(', ') || 'no changes'
  const how = t.method === 'ranges' ? `compared ${t.ranges} rowid range${t.ranges === 1 ? '' : 's'} the differing pages cover` : `compared whole: ${t.fullReason}`
  const out = [`  ${t.table} (${key}): ${counts}  [${how}]`]
  const keyText = (c: RowChange): string => Object.entries(c.key).map(([k, v]) => `${k}=${literal(v)}`).join(' ')
  const values = (r: Record<string, SqlValue> | null): string => Object.entries(r ?? {}).map(([k, v]) => `${k}=${literal(v)}`).join(' ')
  // A primary key is among the row's columns already; a rowid is not.
  const whole = (c: RowChange, r: Record<string, SqlValue> | null): string => (t.keyKind === 'rowid' ? `${keyText(c)}  ${values(r)}` : values(r))
  for (const c of t.rows.removed) out.push(`    - ${whole(c, c.before)}`)
  for (const c of t.rows.added) out.push(`    + ${whole(c, c.after)}`)
  for (const c of t.rows.changed) {
    out.push(`    ~ ${keyText(c)}  ${Object.keys(c.after ?? {}).map((k) => `${k}: ${literal(c.before?.[k] ?? null)} → ${literal(c.after?.[k] ?? null)}`).join(', ')}`)
  }
  const listed = t.rows.added.length + t.rows.removed.length + t.rows.changed.length
  if (t.truncated) out.push(`    … ${t.added + t.removed + t.changed - listed} more (--max-rows, or --json)`)
  return out
}
