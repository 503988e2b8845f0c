import type BetterSqlite3 from 'better-sqlite3'

/**
 * The live database a branch handle hands out: a better-sqlite3 `Database`. Its whole API is
 * available; Strata itself relies only on {@link SqliteDatabase}.
 */
export type LiveDatabase = BetterSqlite3.Database

/**
 * The subset of better-sqlite3's `Database` that Strata calls. Functions that accept an open
 * database take this, so any compatible handle (another copy of better-sqlite3, a wrapper)
 * works.
 */
export interface SqliteDatabase {
  /** False once the connection is closed. */
  readonly open: boolean
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean
  /** Run a PRAGMA; with `simple`, the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown
  /** The whole main database as one buffer (what `sqlite3_serialize` returns). */
  serialize(options?: { attached?: string }): Buffer
  /** Close the connection. */
  close(): unknown
}
