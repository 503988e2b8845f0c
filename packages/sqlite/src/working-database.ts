import type { PageSize } from '@strata/core'
import { InvalidStateError } from './errors/index.js'
import type { FormatBytes } from './header-mode.js'
import type { LiveDatabase } from './sqlite-types.js'

/**
 * Where a live branch keeps its database: a working file under a cache directory, memory, or a
 * lazy (sparse, filled on demand) working file.
 */
export type LiveMode = 'file' | 'memory' | 'lazy'

/**
 * Receives one page of a scan. `page` is valid only during the call (the buffer is reused);
 * copy what you keep. Return `false` to stop the scan.
 */
export type PageVisitor = (pageNo: number, page: Uint8Array) => boolean | void

/** What a scan saw. */
export interface ScanResult {
  /** The database's size in pages. */
  pageCount: number
  /** False if the visitor stopped the scan early. */
  complete: boolean
}

/**
 * The local copy of a branch that a live handle runs SQL against, and the one consistent way to
 * read its pages.
 */
export interface WorkingDatabase {
  /** Where the copy lives. */
  readonly mode: LiveMode
  /** The open database. */
  readonly db: LiveDatabase
  /** The working file (null in memory). */
  readonly path: string | null
  /** The stored page size; the copy must keep it. */
  readonly pageSize: PageSize
  /** Header bytes 18/19 of the snapshot this copy was hydrated from (see `header-mode.ts`). */
  readonly storedFormat: FormatBytes
  /**
   * Visit every page of the current content in order, synchronously — no SQL can run while it
   * reads, so the pages are one consistent state — with page 1's journal-mode bytes set back to
   * {@link storedFormat}. Throws `InvalidStateError` if a SQL transaction is open, the page size
   * changed, a checkpoint cannot complete, or the content is gone (an in-memory database whose
   * connection was closed outside the handle; a closed working file is still read).
   */
  scan(visit: PageVisitor): ScanResult
  /** Close the database and remove the working file and its side files. Idempotent. */
  dispose(): Promise<void>
}

/**
 * Run a PRAGMA for a scan. better-sqlite3 refuses any statement while one of the connection's
 * queries is still being iterated; that becomes an `InvalidStateError`.
 */
export function scanPragma(db: LiveDatabase, source: string, operation: string, simple = true): unknown {
  try {
    return db.pragma(source, { simple })
  } catch (e) {
    // better-sqlite3 refuses any statement while a query of the connection is being iterated.
    const busy = /busy|in progress/i.test((e as Error).message)
    throw new InvalidStateError({ operation, reason: `SQLite refused ${source} (${(e as Error).message})${busy ? '; finish open statements first' : ''}` }, { cause: e })
  }
}

/** The checks a scan through an open connection starts with. */
export function assertScannable(db: LiveDatabase, pageSize: PageSize, operation: string): void {
  if (!db.open) throw new InvalidStateError({ operation, reason: 'the database connection was closed outside the handle, and its content with it' })
  if (db.inTransaction) {
    throw new InvalidStateError({ operation, reason: 'a SQL transaction is open on the database; commit or roll it back first' })
  }
  const current = scanPragma(db, 'page_size', operation) as number
  if (current !== pageSize) {
    throw new InvalidStateError({ operation, reason: `the page size changed from ${pageSize} to ${current}; a branch keeps the page size it was imported with` })
  }
}
