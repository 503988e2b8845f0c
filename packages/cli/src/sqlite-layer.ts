import type { ImportOptions, ImportResult, Repository } from '@strata/core'

/** The part of better-sqlite3's `Statement` that `strata sql` uses. */
export interface SqlStatement {
  readonly reader: boolean
  columns(): { name: string }[]
  raw(toggle?: boolean): this
  safeIntegers(toggle?: boolean): this
  all(): unknown[]
  run(): { changes: number; lastInsertRowid: number | bigint }
}

/** The part of better-sqlite3's `Database` that `strata sql` uses. */
export interface SqlDatabase {
  prepare(sql: string): SqlStatement
  readonly inTransaction: boolean
}

/** A branch open as a live database. */
export interface LiveBranchHandle {
  readonly db: SqlDatabase
  commit(opts: { message?: string; author?: string; tags?: string[] }): Promise<{ changed: boolean; snapshot: string }>
  close(opts?: { uncommitted?: 'commit' | 'discard' }): Promise<void>
}

/** What the CLI needs from `@strata/sqlite`. */
export interface SqliteLayer {
  openBranch?(repo: Repository, branch: string, opts: { mode: 'file' | 'memory'; cacheDir?: string }): Promise<LiveBranchHandle>
  importLiveDatabase?(repo: Repository, path: string, opts: ImportOptions): Promise<ImportResult>
  integrityCheck?(path: string): { ok: boolean; messages: string[] } | Promise<{ ok: boolean; messages: string[] }>
}

/** `@strata/sqlite`, loaded on first use (better-sqlite3 is a native module). */
export async function sqliteLayer(): Promise<SqliteLayer> {
  return (await import('@strata/sqlite')) as unknown as SqliteLayer
}
