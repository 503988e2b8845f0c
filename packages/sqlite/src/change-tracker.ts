import type { PageHashes } from './page-hashes.js'
import type { WorkingDatabase } from './working-database.js'

/** The pages of a working database that differ from a reference state, captured at one instant. */
export interface CapturedChanges {
  /** The database's size in pages when captured. */
  readonly pageCount: number
  /**
   * Every page (1-based number → its bytes, a private copy) whose content differs from the
   * reference state, including every page past the reference's page count. Page 1 carries the
   * stored journal-mode bytes (see `header-mode.ts`). The lock-byte page is never included.
   */
  readonly writes: ReadonlyMap<number, Uint8Array>
  /** The content hash of each page in {@link writes}. */
  readonly hashes: ReadonlyMap<number, Uint8Array>
  /** Pages read and hashed to find the changes (the cost of this capture). */
  readonly pagesScanned: number
  /** The name of the tracker (or method) that found the changes, e.g. `wal` or `full-scan`. */
  readonly via?: string
  /** Set when a tracker fell back to another method: why its own could not be used. */
  readonly fallback?: string
}

/** What a change tracker works with. */
export interface TrackerContext {
  /** The working database whose changes it tracks. */
  readonly working: WorkingDatabase
  /** The committed state: the hashes of the branch head the working database was last in sync with. */
  committed(): PageHashes
}

/**
 * Finds the pages a live branch must commit. One tracker serves one working database; a switch
 * builds a new one. Implementations read pages only through `WorkingDatabase.scan` or an
 * equally consistent path, and never download pages from the store.
 */
export interface ChangeTracker {
  /** A short name for diagnostics (`wal`, `full-scan`). */
  readonly name: string
  /**
   * The pages that differ from `against` (default: the committed state), read synchronously so
   * that no SQL runs in between. Throws `InvalidStateError` if the database cannot be read
   * consistently now (open transaction, closed connection, busy checkpoint).
   */
  capture(against?: PageHashes): CapturedChanges
  /** True if {@link capture} against the committed state would find any change. */
  hasChanges(): boolean
  /** `changes` were committed: the context's committed state now includes them. */
  committed(changes: CapturedChanges): void
  /**
   * Something the tracker could not follow changed the working file (another program wrote it):
   * whatever it recorded about the file is stale, and the next capture must read the pages
   * themselves. Trackers that keep no such record (a full scan) need not implement it.
   */
  forget?(reason: string): void
  /** Release what the tracker holds. */
  dispose(): void
}

/** Builds the change tracker of a working database. */
export type ChangeTrackerFactory = (context: TrackerContext) => ChangeTracker
