import { Option, type Command } from 'commander'
import type { EmitFormat, LiveBranch, LiveCommitResult, LiveDatabase, StatementRun } from '@strata/sqlite'
import { InvalidArgumentError, isStrataError } from '@strata/core'
import { CliError } from '../cli-error.js'
import { examples, nonNegativeInt, type App } from '../app.js'
import { shortId } from '../render.js'
import { splitStatements } from '../sql-split.js'
import { SQL_FORMATS, TABLE_SIZING_ROWS, resultWriter, type ResultWriter, type SqlFormat } from '../sql-output.js'
import { ResultOutput } from '../sql-result-output.js'
import type { OutputSink } from '../output-sink.js'
import { readSqlSource } from '../sql-source.js'

/** The environment variable naming the local cache directory of live branches. */
export const CACHE_DIR_ENV = 'STRATA_CACHE_DIR'

interface SqlOptions {
  file?: string
  format: SqlFormat
  foreignKeys: 'on' | 'off'
  retry: number
  message?: string
  author?: string
  cacheDir?: string
  hydrate?: boolean
}

/** What reading the branch cost: in lazy mode, the pages fetched on demand; after --hydrate, the whole copy. */
interface ReadCost {
  mode: 'lazy' | 'file'
  pageCount: number | null
  pagesFetched: number | null
  storeBytes: number | null
  storeRequests: number | null
}

function readCost(live: LiveBranch): ReadCost {
  const s = live.lazyStats()
  if (!s) return { mode: 'file', pageCount: null, pagesFetched: null, storeBytes: null, storeRequests: null }
  return { mode: 'lazy', pageCount: s.pageCount, pagesFetched: s.pagesFetched, storeBytes: s.storeBytes, storeRequests: s.storeRequests }
}

/** How a run of the script ended. */
type ScriptOutcome =
  /** Every statement ran to completion. */
  | { kind: 'done'; changes: number }
  /** The reader closed stdout first; `readOnly` if no statement of the script (run or not) writes. */
  | { kind: 'output-closed'; readOnly: boolean }

/**
 * `strata sql <branch> ["<SQL>" | -] [-f FILE] [--format F] [--foreign-keys on|off] [--retry N]`:
 * run a script on a live copy of the branch, stepping every statement to completion as the
 * `sqlite3` shell does, stream the rows of every statement that returns rows, and commit if any
 * page changed. Any SQL error discards everything: nothing is committed.
 */
export function registerSql(parent: Command, app: App): void {
  const cmd = parent
    .command('sql')
    .description('run SQL on a branch, print the result rows, commit what changed')
    .argument('<branch>', 'branch to run on')
    .argument('[sql]', 'SQL statements separated by ";" (- reads them from stdin)')
    .option('-f, --file <path>', 'read the SQL from a file (- for stdin)')
    .addOption(new Option('--format <format>', 'how result rows are printed').choices(SQL_FORMATS).default('table'))
    .addOption(
      new Option('--foreign-keys <on|off>', 'enforce FOREIGN KEY constraints (on by default, unlike the sqlite3 shell)').choices(['on', 'off']).default('on'),
    )
    .option('--retry <n>', 'when another writer moved the branch first, run the whole script again on its new head, up to n times', nonNegativeInt('--retry'), 0)
    .option('-m, --message <msg>', 'commit message (default: the SQL)')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--cache-dir <dir>', `where the branch's local database file lives (default $${CACHE_DIR_ENV}, else $XDG_CACHE_HOME/strata or <tmp>/strata)`)
    .option('--hydrate', 'copy the whole branch into the local file first, instead of fetching only the pages the SQL reads')
    .action(async (branch: string, sqlArg: string | undefined, opts: SqlOptions, self: Command) => {
      const ctx = app.context(self)
      if (ctx.json && self.getOptionValueSource('format') === 'cli') {
        throw new InvalidArgumentError({ argument: '--format', reason: '--json prints the whole result as one document already; use one of --json and --format' })
      }
      // Loaded on demand: better-sqlite3 is a native module that most commands never need.
      const { openBranch, prewarmLazy } = await import('@strata/sqlite')
      // The lazy fetcher thread starts (a good part of a cold open) while the SQL is read and the repository opened.
      if (!opts.hydrate) prewarmLazy()
      const sql = await readSqlSource(sqlArg, opts.file, ctx.io.stdin)
      const statements = splitStatements(sql)
      if (statements.length === 0) throw new InvalidArgumentError({ argument: 'SQL', reason: 'it contains no statement' })
      statements.forEach(refuseUnsupported)
      const repo = await ctx.repository()
      const cacheDir = opts.cacheDir ?? ctx.io.env[CACHE_DIR_ENV]
      const message = opts.message ?? `sql: ${oneLine(sql, 200)}`
      for (let attempt = 1; ; attempt++) {
        const live = await openBranch(repo, branch, { mode: opts.hydrate ? 'file' : 'lazy', ...(cacheDir ? { cacheDir } : {}), onWarning: (m) => ctx.log(m) })
        let reads: ReadCost | null = null
        let output: ResultOutput | null = null
        let outcome: ScriptOutcome
        let committed: LiveCommitResult
        let writer: ResultWriter | null = null
        try {
          // With --retry, rows are held in a file until the attempt that commits: only its rows are printed.
          const out = (output = await ResultOutput.open(ctx.io.stdout, opts.retry > 0))
          writer = resultWriter(opts.format, (t) => out.sink.write(t), ctx.json ? { branch } : null)
          if (opts.foreignKeys === 'off') live.db.pragma('foreign_keys = OFF')
          // better-sqlite3's build turns recursive triggers on; SQLite's default, and the shell's, is off.
          live.db.pragma('recursive_triggers = OFF')
          outcome = await runScript(live.db, statements, writer, out, opts.foreignKeys)
          if (outcome.kind === 'output-closed') {
            output = null
            await out.discard()
            if (outcome.readOnly) return // like any Unix tool whose reader has gone: quietly, exit 0
            throw new CliError('STRATA_SQL_ERROR', 'the output was closed before the SQL finished; nothing was committed', {
              data: { statement: null, sql: null, sqliteCode: null },
            })
          }
          reads = readCost(live)
          committed = await live.commit({ message, ...(opts.author !== undefined ? { author: opts.author } : {}) })
        } catch (e) {
          if (isStrataError(e, 'STRATA_CONFLICT') && attempt <= opts.retry) {
            await output?.discard()
            ctx.log(`${branch} moved while the SQL ran (${(e as Error).message}); running it again on the new head (retry ${attempt} of ${opts.retry})`)
            await backoff(attempt)
            continue
          }
          if (output) {
            // What was printed so far stays printed, as in the sqlite3 shell, and is left well-formed.
            writer?.abort(isStrataError(e) || e instanceof CliError ? (e as { code: string }).code : 'STRATA_INTERNAL')
            await output.publish()
          }
          throw e
        } finally {
          // After a successful commit there is nothing left to discard; after a failure, discarding is the point.
          await live.close({ uncommitted: 'discard' })
        }
        const rows = `${outcome.changes} row${outcome.changes === 1 ? '' : 's'} changed`
        const tries = attempt > 1 ? ` after ${attempt} attempts` : ''
        if (committed.changed) ctx.log(`${rows}; committed ${shortId(committed.snapshot)} on ${branch}${tries} (${committed.pagesChanged} page${committed.pagesChanged === 1 ? '' : 's'} changed)`)
        else ctx.log(`${rows}; no page changed, nothing committed (${branch} stays at ${shortId(committed.snapshot)})`)
        if (reads?.mode === 'lazy') ctx.log(`read ${reads.pagesFetched} of ${reads.pageCount} pages (${reads.storeBytes} bytes) from the store`)
        writer.finish({
          statements: statements.length,
          changes: outcome.changes,
          changed: committed.changed,
          snapshot: committed.snapshot,
          previous: committed.previous,
          pagesChanged: committed.pagesChanged,
          attempts: attempt,
          reads,
        })
        await output.publish()
        return
      }
    })
  cmd.addHelpText(
    'after',
    `
Every statement runs to completion, in order, as in the sqlite3 shell, and the rows of every
statement that returns rows are printed as they are read (memory stays bounded however many):
  table   aligned columns, sized from the first ${TABLE_SIZING_ROWS} rows of each result; a later,
          wider value overflows its column; long values are cut at 60 characters
  csv     RFC 4180, a header line per result; NULL is empty, blobs are x'<hex>'
  tsv     tab-separated, a header line per result; tab, newline, CR and \\ escaped as \\t \\n \\r \\\\
  json    like sqlite3 -json: per result, one array of objects, one row per line
  jsonl   one object per row and line
With --json, stdout is one document: {"branch", "results": [{"statement", "columns", "rows"}],
"statements", "changes", "changed", "snapshot", "previous", "pagesChanged", "attempts"}.
In JSON, blobs are {"$blob": "<hex>"} and integers beyond 2^53 are strings.

The script is all or nothing: the branch is committed once, after the last statement, and
only if a page changed; any error commits nothing. A transaction left open is an error.
If the reader closes the output early (| head), strata stops reading and commits nothing: it
exits 0 quietly when the script only reads, else 1 with a message.

Foreign keys are enforced (on) by default, unlike the sqlite3 shell, which leaves them off:
--foreign-keys off runs the script without the check. Recursive triggers are off, as in the
shell (PRAGMA recursive_triggers = ON in the script turns them on). Text in double quotes is
an identifier only: strata's SQLite has no double-quoted string literals; use 'text'.

--retry n: if another writer committed to the branch while the script ran, the whole script
runs again on the new head (up to n more times), and only the rows of the run that commits
are printed. The script must not depend on anything outside the database (time, random
values, files): each run sees only the database and redoes the same statements.

ATTACH is refused: only the branch's own database is committed. Dot-commands (.tables) are
sqlite3 shell commands, not SQL.`,
  )
  examples(
    cmd,
    `strata sql main "SELECT count(*) FROM users"`,
    `strata sql experiment "ALTER TABLE users ADD COLUMN plan TEXT; UPDATE users SET plan = 'free'" -m "add plan"`,
    `strata sql experiment -f migration.sql --retry 5`,
    `echo "SELECT * FROM users" | strata sql experiment - --format csv > users.csv`,
    `strata sql experiment "SELECT * FROM users LIMIT 3" --json`,
  )
}

/** A random pause before retry `n`, growing with `n` (at most one second), so racing writers spread out. */
function backoff(n: number): Promise<void> {
  const ms = Math.random() * Math.min(1000, 20 * 2 ** (n - 1))
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// The first word of a statement, after comments and whitespace.
const FIRST_WORD = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*([.A-Za-z_]+)/

/** Refuse, before anything runs, what `strata sql` cannot do: ATTACH, and sqlite3 shell dot-commands. */
function refuseUnsupported(text: string, i: number): void {
  const word = FIRST_WORD.exec(text)?.[1] ?? ''
  if (word.startsWith('.')) {
    throw new InvalidArgumentError({ argument: 'SQL', reason: `statement ${i + 1} (${oneLine(text, 40)}) is a sqlite3 shell dot-command, not SQL; nothing was run` })
  }
  if (word.toLowerCase() === 'attach') {
    throw new InvalidArgumentError({
      argument: 'SQL',
      reason: `statement ${i + 1} (${oneLine(text, 60)}): ATTACH is not supported — strata sql commits the branch's own database only, and changes to another file would be lost; nothing was run`,
    })
  }
}

/**
 * Run `statements` in order, each to completion, writing the rows of each that returns rows to
 * `writer` as they are read. Stops early, leaving the rest unrun, when the reader closes the output.
 */
async function runScript(
  db: LiveDatabase,
  statements: readonly string[],
  writer: ResultWriter,
  output: ResultOutput,
  foreignKeys: 'on' | 'off',
): Promise<ScriptOutcome> {
  const { runStatement } = await import('@strata/sqlite')
  const sink = output.sink
  let changes = 0
  let readOnly = true
  for (let i = 0; i < statements.length; i++) {
    const text = statements[i]!
    // The reader went away after statement i: only the statements after it are left unrun.
    const closed = (): ScriptOutcome => ({ kind: 'output-closed', readOnly: readOnly && restReadOnly(db, statements, i + 1) })
    try {
      const run = runStatement(db, text)
      readOnly &&= run.readonly
      if (run.columns) {
        writer.begin(i + 1, run.columns)
        // Fastest: native code writes the rows of a read-only statement straight to stdout's file
        // descriptor, after what is queued so far (the same bytes as the writer would make).
        let emitted: number | 'closed' | null = null
        if (writer.native && output.fd !== null && run.readonly) {
          try {
            emitted = await emitRows(run, writer.native, output.fd, sink)
          } finally {
            // Also after an error part way: the writer then closes what the rows opened.
            if (run.emitted !== null) writer.emitted(run.emitted)
          }
        }
        if (emitted === 'closed') return closed()
        if (emitted === null) {
          // Rows pushed from inside SQLite when the statement allows it (a pause whenever a chunk
          // of output is ready), else read one by one; leaving either loop stops the statement.
          const pauses = run.push((row) => {
            writer.row(row)
            return sink.full
          })
          if (pauses) {
            for (const _ of pauses) {
              await sink.flush()
              if (sink.closed) return closed()
            }
          } else {
            for (const row of run.rows) {
              writer.row(row)
              if (sink.full) {
                await sink.flush()
                if (sink.closed) return closed()
              }
            }
          }
        }
        writer.end()
      }
      changes += run.changes()
    } catch (e) {
      throw sqlError(e, i, text, foreignKeys)
    }
    await sink.flushIfFull()
    if (sink.closed) return closed()
  }
  if (db.inTransaction) {
    throw new CliError('STRATA_SQL_ERROR', 'the SQL left a transaction open (BEGIN without COMMIT); nothing was committed', {
      data: { statement: null, sql: null, sqliteCode: null },
    })
  }
  return { kind: 'done', changes }
}

/**
 * Write the rows of `run` with {@link StatementRun.emit} to `fd`, once everything queued for it
 * has been written; null when the statement cannot be run that way.
 */
async function emitRows(run: StatementRun, format: EmitFormat, fd: number, sink: OutputSink): Promise<number | 'closed' | null> {
  await sink.settle()
  if (sink.closed) return 'closed'
  return run.emit(fd, format)
}

/** Whether the statements from `from` on would only read (one that does not prepare yet counts as writing). */
function restReadOnly(db: LiveDatabase, statements: readonly string[], from: number): boolean {
  return statements.slice(from).every((text) => {
    try {
      return db.prepare(text).readonly
    } catch {
      return false
    }
  })
}

function sqlError(e: unknown, i: number, text: string, foreignKeys: 'on' | 'off'): unknown {
  if (e instanceof CliError || isStrataError(e)) return e
  const sqliteCode = (e as { code?: unknown }).code
  const message = (e as Error).message
  let hint: string | undefined
  if (sqliteCode === 'SQLITE_CONSTRAINT_FOREIGNKEY' && foreignKeys === 'on') {
    hint = 'strata sql enforces foreign keys by default, unlike the sqlite3 shell; --foreign-keys off runs the SQL without the check'
  }
  const column = /^no such column: "?([^"\s]+)/.exec(message)?.[1]
  if (column !== undefined && text.includes(`"${column}"`)) {
    hint = `"${column}" is an identifier here: strata's SQLite is built without double-quoted string literals (the sqlite3 shell accepts them); write '${column}' for text`
  }
  return new CliError('STRATA_SQL_ERROR', `SQL error in statement ${i + 1} (${oneLine(text, 80)}): ${message}; nothing was committed`, {
    data: { statement: i + 1, sql: text, sqliteCode: typeof sqliteCode === 'string' ? sqliteCode : null },
    cause: e,
    ...(hint ? { hint } : {}),
  })
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, ' ').trim()
  return t.length > max ? t.slice(0, max - 1) + '…' : t
}
