import type { Command } from 'commander'
import { InvalidArgumentError as InvalidOptionArgument } from 'commander'
import { isStrataError } from '@strata/core'
import type { MergeConflict, MergeConflictError, MergeResult, MergeStrategy } from '@strata/sqlite'
import { examples, type App } from '../app.js'
import { ExitCode } from '../exit-codes.js'
import { sqlRowJson } from '../json.js'
import { shortId, sqlLiteral, table } from '../render.js'
import { CACHE_DIR_ENV } from './sql.js'

/** The document `--json` prints when the merge stopped on conflicts (exit 1). */
interface ConflictDocument {
  status: 'conflicts'
  source: string
  target: string
  base: string
  conflicts: unknown[]
}

/**
 * `strata merge <source> --into <target>`: a three-way merge at row level of a branch, tag or
 * snapshot into a branch, committed as one snapshot on the target. Conflicts are printed (table,
 * key, columns with base / ours / theirs values) and nothing is committed unless a strategy
 * resolves them.
 */
export function registerMerge(parent: Command, app: App): void {
  const cmd = parent
    .command('merge')
    .description('merge the rows and schema changes of <source> since the last snapshot both share into branch --into, as one commit; conflicts are listed and nothing is committed unless --strategy resolves them')
    .argument('<source>', 'branch, tag or snapshot id whose changes to bring in')
    .requiredOption('--into <target>', 'the branch to merge into (it gets the merge commit)')
    .option('--strategy <strategy>', 'fail: commit nothing on a conflict; ours: keep the target\'s values in each conflict; theirs: take the source\'s', strategyOf, 'fail' as MergeStrategy)
    .option('--dry-run', 'work out and print the merge (changes and conflicts), commit nothing')
    .option('-m, --message <msg>', 'message of the merge commit (default "merge <source> into <target>")')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--work-dir <dir>', 'where the base and the source are written while merging, removed afterwards (default: the OS temp directory)')
    .action(async (source: string, opts: { into: string; strategy: MergeStrategy; dryRun?: boolean; message?: string; author?: string; workDir?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      // Loaded on demand: better-sqlite3 is a native module that most commands never need.
      const { merge } = await import('@strata/sqlite')
      let result: MergeResult
      try {
        result = await merge(repo, source, opts.into, {
          strategy: opts.strategy,
          dryRun: opts.dryRun === true,
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}),
          ...(ctx.io.env[CACHE_DIR_ENV] ? { cacheDir: ctx.io.env[CACHE_DIR_ENV] } : {}),
        })
      } catch (e) {
        if (!isStrataError(e, 'STRATA_MERGE_CONFLICT')) throw e
        const data = (e as MergeConflictError).data
        const doc: ConflictDocument = { status: 'conflicts', source: data.source, target: data.target, base: data.base, conflicts: data.conflicts.map(conflictJson) }
        ctx.emit(doc, () => [
          `merge ${data.source} into ${data.target}: ${count(data.conflicts.length, 'conflict')}, nothing committed (base ${shortId(data.base)})`,
          ...conflictLines(data.conflicts, data.target, data.source),
          '',
          `Resolve them on either branch and merge again, or rerun with --strategy ours (keep ${data.target}'s values) or --strategy theirs (take ${data.source}'s).`,
        ])
        ctx.exitCode = ExitCode.failure
        return
      }
      ctx.emit({ ...result, conflicts: result.conflicts.map(conflictJson), tables: result.tables.map((t) => ({ ...t, renumbered: t.renumbered.map((r) => sqlRowJson(r)) })) }, () => render(result))
    })
  examples(
    cmd,
    'strata merge feature --into main',
    'strata merge feature --into main --dry-run',
    'strata merge migration --into main --strategy theirs -m "promote the migration"',
    'strata merge feature --into main --json   # conflicts as data, exit 1',
  )
}

function strategyOf(value: string): MergeStrategy {
  if (value !== 'fail' && value !== 'ours' && value !== 'theirs') throw new InvalidOptionArgument('--strategy must be fail, ours or theirs')
  return value
}

function conflictJson(c: MergeConflict): unknown {
  return { ...c, key: sqlRowJson(c.key), columns: c.columns.map((x) => sqlRowJson({ ...x })) }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

function render(r: MergeResult): string[] {
  const into = `${r.source.spec} into ${r.target.branch}`
  if (r.status === 'up-to-date') return [`Already up to date: ${r.target.branch} has every change of ${r.source.spec} (base ${shortId(r.base)})`]
  const lines: string[] = []
  if (r.status === 'dry-run') lines.push(`Dry run: merging ${into} (base ${shortId(r.base)}) would change what follows; nothing was committed`)
  else if (r.commit && r.commit.pagesChanged > 0) lines.push(`Merged ${into}: new head ${shortId(r.commit.snapshot)} (base ${shortId(r.base)}, previous head ${shortId(r.target.head)}, ${r.commit.pagesUploaded} pages uploaded)`)
  else lines.push(`Merged ${into}: ${r.target.branch} already held every change; the merge is recorded as ${shortId(r.commit?.snapshot)} (base ${shortId(r.base)})`)
  if (r.schema.length) {
    lines.push('', 'schema:')
    for (const s of r.schema) lines.push(`  ${s.change === 'added' ? '+' : s.change === 'removed' ? '-' : '~'} ${s.type} ${s.name}${s.type === 'index' || s.type === 'trigger' ? ` on ${s.table}` : ''}: ${s.how}`)
  }
  if (r.tables.length) {
    lines.push('', 'rows:')
    const rows = r.tables.map((t) => [t.table, t.key.join(', '), t.sourceChanges, t.inserted, t.updated, t.deleted, t.renumbered.length, t.conflicts])
    lines.push(...table(['TABLE', 'KEY', 'SOURCE CHANGES', 'INSERTED', 'UPDATED', 'DELETED', 'RENUMBERED', 'CONFLICTS'], rows).map((l) => `  ${l}`))
    for (const t of r.tables) for (const x of t.renumbered) lines.push(`  ${t.table}: the source's row ${sqlLiteral(x.from)} is inserted as rowid ${sqlLiteral(x.to)} (the target used rowid ${sqlLiteral(x.from)})`)
  }
  if (r.conflicts.length) {
    const unresolved = r.conflicts.filter((c) => c.resolution === null).length
    lines.push('', `${count(r.conflicts.length, 'conflict')}${unresolved ? ` (${unresolved} unresolved)` : ''}:`, ...conflictLines(r.conflicts, r.target.branch, r.source.spec))
  }
  return lines
}

/** Each conflict: table and key, what happened, then its columns with the base, target (ours) and source (theirs) values. */
function conflictLines(conflicts: readonly MergeConflict[], target: string, source: string): string[] {
  const out: string[] = []
  for (const c of conflicts) {
    const key = Object.entries(c.key).map(([k, v]) => `${k}=${sqlLiteral(v)}`).join(' ')
    const resolved = c.resolution ? ` → kept ${c.resolution === 'ours' ? target : source}'s` : ''
    out.push('', `  ${c.table}${key ? ` ${key}` : ''}: ${c.kind}: ${c.detail}${resolved}`)
    if (c.columns.length) {
      const rows = c.columns.map((x) => [x.name, sqlLiteral(x.base), sqlLiteral(x.ours), sqlLiteral(x.theirs)])
      out.push(...table(['COLUMN', 'BASE', `OURS (${target})`, `THEIRS (${source})`], rows).map((l) => `    ${l}`))
    }
  }
  return out
}
