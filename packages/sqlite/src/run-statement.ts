import type BetterSqlite3 from 'better-sqlite3'
import type { LiveDatabase } from './sqlite-types.js'

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
    return {
      columns: stmt.columns().map((c) => c.name),
      readonly: stmt.readonly,
      rows: stmt.iterate() as IterableIterator<unknown[]>,
      changes,
    }
  }
  db.exec(sql)
  return { columns: null, readonly: stmt.readonly, rows: [][Symbol.iterator](), changes }
}
