import type { Command } from 'commander'
import type { LiveCommitResult, LiveDatabase } from '@strata/sqlite'
import { InvalidArgumentError } from '@strata/core'
import { CliError } from '../cli-error.js'
import { examples, type App } from '../app.js'
import { shortId, table } from '../render.js'
import { splitStatements } from '../sql-split.js'

/** The environment variable naming the local cache directory of live branches. */
export const CACHE_DIR_ENV = 'STRATA_CACHE_DIR'

/** Rows of the last statement that returned rows. */
interface ResultSet {
  columns: string[]
  rows: unknown[][]
}

/**
 * `strata sql <branch> "<SQL>" [-m MSG]`: run one or more statements on a live copy of the
 * branch, print the rows of the last statement that returns rows, and commit if any page
 * changed. Any SQL error discards everything: nothing is committed.
 */
export function registerSql(parent: Command, app: App): void {
  const cmd = parent
    .command('sql')
    .description('run SQL on a branch, print the result rows, commit what changed')
    .argument('<branch>', 'branch to run on')
    .argument('<sql>', 'one or more SQL statements separated by ";"')
    .option('-m, --message <msg>', 'commit message (default: the SQL)')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--cache-dir <dir>', `where the branch's local database file lives (default $${CACHE_DIR_ENV}, else $XDG_CACHE_HOME/strata or <tmp>/strata)`)
    .action(async (branch: string, sql: string, opts: { message?: string; author?: string; cacheDir?: string }, self: Command) => {
      const ctx = app.context(self)
      const statements = splitStatements(sql)
      if (statements.length === 0) throw new InvalidArgumentError({ argument: 'SQL', reason: 'it contains no statement' })
      const repo = await ctx.repository()
      // Loaded on demand: better-sqlite3 is a native module that most commands never need.
      const { openBranch } = await import('@strata/sqlite')
      const cacheDir = opts.cacheDir ?? ctx.io.env[CACHE_DIR_ENV]
      const live = await openBranch(repo, branch, { mode: 'file', ...(cacheDir ? { cacheDir } : {}) })
      let committed: LiveCommitResult
      let result: ResultSet | null
      let changes: number
      try {
        ;({ result, changes } = runStatements(live.db, statements))
        committed = await live.commit({
          message: opts.message ?? `sql: ${oneLine(sql, 200)}`,
          ...(opts.author !== undefined ? { author: opts.author } : {}),
        })
      } finally {
        // After a successful commit there is nothing left to discard; after a failure, discarding is the point.
        await live.close({ uncommitted: 'discard' })
      }
      const rows = `${changes} row${changes === 1 ? '' : 's'} changed`
      if (committed.changed) ctx.log(`${rows}; committed ${shortId(committed.snapshot)} on ${branch} (${committed.pagesChanged} page${committed.pagesChanged === 1 ? '' : 's'} changed)`)
      else ctx.log(`${rows}; no page changed, nothing committed (${branch} stays at ${shortId(committed.snapshot)})`)
      ctx.emit(
        {
          branch,
          statements: statements.length,
          changes,
          columns: result?.columns ?? null,
          rows: result?.rows.map((r) => r.map(jsonCell)) ?? null,
          changed: committed.changed,
          snapshot: committed.snapshot,
          previous: committed.previous,
          pagesChanged: committed.pagesChanged,
        },
        () => (result ? [...table(result.columns, result.rows), `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`] : []),
      )
    })
  examples(
    cmd,
    `strata sql main "SELECT count(*) FROM users"`,
    `strata sql experiment "ALTER TABLE users ADD COLUMN plan TEXT; UPDATE users SET plan = 'free'" -m "add plan"`,
    `strata sql experiment "SELECT * FROM users LIMIT 3" --json`,
  )
}

function runStatements(db: LiveDatabase, statements: readonly string[]): { result: ResultSet | null; changes: number } {
  let result: ResultSet | null = null
  let changes = 0
  statements.forEach((text, i) => {
    try {
      const stmt = db.prepare(text).safeIntegers(true)
      if (stmt.reader) {
        const columns = stmt.columns().map((c) => c.name)
        result = { columns, rows: stmt.raw(true).all() as unknown[][] }
      } else {
        changes += stmt.run().changes
      }
    } catch (e) {
      const sqliteCode = (e as { code?: unknown }).code
      throw new CliError(
        'STRATA_SQL_ERROR',
        `SQL error in statement ${i + 1} (${oneLine(text, 80)}): ${(e as Error).message}; nothing was committed`,
        { data: { statement: i + 1, sql: text, sqliteCode: typeof sqliteCode === 'string' ? sqliteCode : null }, cause: e },
      )
    }
  })
  if (db.inTransaction) {
    throw new CliError('STRATA_SQL_ERROR', 'the SQL left a transaction open (BEGIN without COMMIT); nothing was committed', {
      data: { statement: null, sql: null, sqliteCode: null },
    })
  }
  return { result, changes }
}

/** Blobs as `{ "$blob": "<hex>" }`, so they cannot be confused with text. */
function jsonCell(v: unknown): unknown {
  return v instanceof Uint8Array ? { $blob: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') } : v
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, ' ').trim()
  return t.length > max ? t.slice(0, max - 1) + '…' : t
}
