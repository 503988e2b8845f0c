import { randomBytes } from 'node:crypto'
import { getSystemErrorName } from 'node:util'
import type BetterSqlite3 from 'better-sqlite3'
import { EMIT_ENTRY_POINT, extensionPath } from '@strata/vfs'
import type { LiveDatabase } from './sqlite-types.js'

/** The text formats {@link StatementRun.emit} writes (those of `strata sql --format`). */
export type EmitFormat = 'csv' | 'tsv' | 'json' | 'jsonl' | 'table'

/** One statement of user SQL, prepared by {@link runStatement}. */
export interface StatementRun {
  /** The result's column names, or null for a statement that returns no rows. */
  readonly columns: readonly string[] | null
  /** True if the statement cannot change the database (`sqlite3_stmt_readonly`). */
  readonly readonly: boolean
  /**
   * The result rows, each an array in column order, with integers as bigints. Reading them to
   * the end completes the statement; `return()` on the iterator stops it early. Empty for a
   * statement without columns, which has run to completion already.
   */
  readonly rows: IterableIterator<unknown[]>
  /**
   * The same rows pushed to `onRow` from inside SQLite, in the same order, as a faster
   * alternative to {@link rows} (no iterator round trip per row): each step of the returned
   * iterator runs the statement until `onRow` returns true (a pause: flush the output, then step
   * again) or the rows end; `return()` stops it early. Null when the statement cannot be run this
   * way (it writes, it is not a plain query, or SQLite would call `onRow` before sorting); then
   * read {@link rows}. Use one of the two, once.
   */
  push(onRow: (values: unknown[]) => boolean): IterableIterator<unknown> | null
  /**
   * Run the statement to its end in native code, writing its rows as text in `format` straight
   * to file descriptor `fd` (whole buffered chunks with write(2); memory stays bounded): the
   * fastest way to print a large result. The bytes are those `strata sql`'s JavaScript writers
   * make of the rows from {@link rows}, less what those write around the rows: no CSV/TSV
   * header line; for `json`, `[row` then `,\nrow` without the closing bracket; for `table`, the
   * header, rule and rows without the `(N rows)` line. Returns the number of rows written,
   * `'closed'` when the reader of a pipe went away (EPIPE; the statement is stopped), or null
   * when it cannot be done (the statement writes, or the `@strata/vfs` extension is not
   * available): then use {@link rows} or {@link push}. Anything already queued for `fd`
   * elsewhere must have reached it first. Throws SQLite's error when the statement fails (after
   * writing the rows before it), or an `Error` with the errno `code` when writing fails
   * otherwise; {@link emitted} then says how many rows were written.
   */
  emit(fd: number, format: EmitFormat): number | 'closed' | null
  /** The rows {@link emit} wrote, also when it threw; null until it ran (or when it declined). */
  readonly emitted: number | null
  /**
   * Rows the statement inserted, updated or deleted (`sqlite3_changes()`, so not counting those
   * of triggers), 0 for statements that are not DML. Valid once {@link rows} is exhausted.
   */
  changes(): number
}

const counters = new WeakMap<LiveDatabase, BetterSqlite3.Statement<[], number | bigint>[]>()

function counter(db: LiveDatabase, which: 0 | 1): number {
  let pair = counters.get(db)
  if (!pair) {
    pair = [db.prepare<[], number | bigint>('SELECT total_changes()').pluck(), db.prepare<[], number | bigint>('SELECT changes()').pluck()]
    counters.set(db, pair)
  }
  return Number(pair[which]!.get())
}

/**
 * Run one statement of user SQL (`sql` must hold exactly one) on `db` the way the `sqlite3`
 * shell does: every statement is stepped until SQLite says it is done. A statement with result
 * columns hands out its rows lazily; one without is run to completion right away.
 *
 * better-sqlite3's `Statement.run()` steps once, which cuts short statements that do their work
 * over several steps without result columns (`PRAGMA incremental_vacuum` frees one page per
 * step); here they go through `exec()`, which steps until `SQLITE_DONE`.
 *
 * Throws SQLite's error (a `SqliteError` with its `code`) when the statement does not prepare
 * or fails while running (also while its rows are read).
 */
export function runStatement(db: LiveDatabase, sql: string): StatementRun {
  const before = counter(db, 0)
  const stmt = db.prepare(sql)
  const changes = (): number => (counter(db, 0) === before ? 0 : counter(db, 1))
  if (stmt.reader) {
    stmt.safeIntegers(true).raw(true)
    const columns = stmt.columns().map((c) => c.name)
    // Created on first use: an open iterator locks the statement and the connection's function table.
    let rows: IterableIterator<unknown[]> | null = null
    let emitted: number | null = null
    return {
      columns,
      readonly: stmt.readonly,
      get rows() {
        return (rows ??= stmt.iterate() as IterableIterator<unknown[]>)
      },
      push: (onRow) => (stmt.readonly ? pushRows(db, sql, columns.length, onRow) : null),
      emit(fd, format) {
        if (!stmt.readonly) return null
        const call = emitter(db)
        if (!call) return null
        let declined = false
        try {
          const r = emitRows(call, sql, fd, format)
          declined = r === null
          return r
        } finally {
          if (!declined) emitted = call.written()
        }
      },
      get emitted() {
        return emitted
      },
      changes,
    }
  }
  db.exec(sql)
  return { columns: null, readonly: stmt.readonly, rows: [][Symbol.iterator](), push: () => null, emit: () => null, emitted: null, changes }
}

/** The native emitter of a connection: `strata_emit_rows()`, and how many rows its last call wrote. */
interface Emitter {
  run: BetterSqlite3.Statement<[string, string, number], number | null>
  written(): number
}

/** Per connection: its emitter, or null where the extension cannot be loaded. */
const emitters = new WeakMap<LiveDatabase, Emitter | null>()

function emitter(db: LiveDatabase): Emitter | null {
  let e = emitters.get(db)
  if (e !== undefined) return e
  e = null
  const path = extensionPath()
  if (path) {
    try {
      // A second load of the library the lazy VFS lives in, with the entry point that only
      // registers strata_emit_rows() on this connection. better-sqlite3 takes the entry point
      // as a second argument (its typings omit it).
      ;(db.loadExtension as (path: string, entryPoint: string) => unknown)(path, EMIT_ENTRY_POINT)
      const written = db.prepare<[], number>('SELECT strata_emit_rows_written()').pluck()
      e = { run: db.prepare<[string, string, number], number | null>('SELECT strata_emit_rows(?, ?, ?)').pluck(), written: () => written.get()! }
    } catch {
      e = null // an extension built before the emitter existed, or one SQLite refuses: the rows go through JavaScript
    }
  }
  emitters.set(db, e)
  return e
}

function emitRows(e: Emitter, sql: string, fd: number, format: EmitFormat): number | 'closed' | null {
  const written = e.run.get(sql, format, fd)
  if (written === null || written === undefined) return null
  if (written >= 0) return written
  const code = getSystemErrorName(written)
  if (code === 'EPIPE') return 'closed'
  throw Object.assign(new Error(`${code}: writing the result rows failed`), { code, errno: written, syscall: 'write' })
}

/** The row function of a connection: a name no user SQL can guess, and where its rows go now. */
interface RowFunction {
  readonly name: string
  onRow: ((values: unknown[]) => boolean) | null
}

const rowFunctions = new WeakMap<LiveDatabase, RowFunction>()

function rowFunction(db: LiveDatabase): RowFunction {
  let f = rowFunctions.get(db)
  if (!f) {
    const fn: RowFunction = { name: `strata_row_${randomBytes(8).toString('hex')}`, onRow: null }
    // Not deterministic, so SQLite calls it once per row and never hoists it out of the loop.
    db.function(fn.name, { varargs: true, safeIntegers: true, deterministic: false }, (...values: unknown[]) => {
      if (!fn.onRow) throw new Error(`${fn.name}() is internal to strata and takes no calls of its own`)
      return fn.onRow(values) ? 1 : 0
    })
    rowFunctions.set(db, (f = fn))
  }
  return f
}

/**
 * Run the query `sql` (one statement, its result `columnCount` wide) as
 *
 *     WITH q(c1, …) AS (sql) SELECT 1 FROM (SELECT f(c1, …) AS pause FROM q LIMIT -1) WHERE pause
 *
 * so that SQLite calls `f` → `onRow` for every row of `sql` and returns a row to JavaScript only
 * when `onRow` asks for a pause. `LIMIT -1` (no limit) keeps the middle query a co-routine: the
 * outer `WHERE` is neither flattened into it nor pushed down into `sql`. The rewrite is used only
 * when it prepares and SQLite's program calls `f` only after every sort in it (else `f` could see the
 * rows of an `ORDER BY` before they are sorted, or rows a `LIMIT` drops); otherwise null.
 */
function pushRows(db: LiveDatabase, sql: string, columnCount: number, onRow: (values: unknown[]) => boolean): IterableIterator<unknown> | null {
  let fn: RowFunction
  try {
    fn = rowFunction(db)
  } catch {
    return null // e.g. another statement's iterator is open on the connection
  }
  const body = sql.trimEnd().replace(/;$/, '')
  const names = Array.from({ length: columnCount }, (_, i) => `c${i + 1}`).join(', ')
  // The newline ends a `--` comment the statement may end with.
  const wrapped = `WITH strata_q(${names}) AS (${body}\n) SELECT 1 FROM (SELECT ${fn.name}(${names}) AS pause FROM strata_q LIMIT -1) WHERE pause`
  let program: { addr: number; opcode: string; p4: unknown }[]
  let stmt: BetterSqlite3.Statement
  try {
    stmt = db.prepare(wrapped)
    program = db.prepare(`EXPLAIN ${wrapped}`).all() as typeof program
  } catch {
    return null // not a plain query (PRAGMA, EXPLAIN, …): read it row by row
  }
  const calls = program.filter((op) => (op.opcode === 'Function' || op.opcode === 'PureFunc') && String(op.p4).startsWith(`${fn.name}(`))
  const sorts = program.filter((op) => op.opcode === 'SorterSort' || op.opcode === 'Sort')
  // One call per arm of a UNION ALL that SQLite flattened; the arms run in order.
  if (calls.length === 0 || sorts.some((op) => op.addr > calls[0]!.addr)) return null
  const pauses = stmt.raw(true).iterate()
  return {
    next: () => {
      fn.onRow = onRow
      try {
        return pauses.next()
      } finally {
        fn.onRow = null
      }
    },
    return: (value?: unknown) => pauses.return?.(value) ?? { done: true, value: undefined },
    [Symbol.iterator]() {
      return this
    },
  }
}
