import type { CommitResult, MergeParents, OperationOptions } from '@strata/core'

/** Options of a live commit. */
export interface LiveCommitOptions extends OperationOptions {
  message?: string
  /** Default: the repository's default author. */
  author?: string
  /** Labels recorded in the snapshot's history. */
  tags?: string[]
  /** Recorded as the operation that produced the snapshot (`merge`, …). Default `commit`. */
  operation?: string
  /** Recorded on a merge commit: the snapshot merged in and the merge base. */
  merge?: MergeParents
}

/** What a live commit did. */
export interface LiveCommitResult extends CommitResult {
  /** Pages whose content differed from the branch head and were handed to the commit. */
  pagesChanged: number
  /** Pages the change tracker read and hashed to find them. */
  pagesScanned: number
  /** How the changes were found (`wal`, `full-scan`, or a custom tracker's name). */
  via?: string
  /** Set when the tracker fell back from its own method (e.g. a WAL it could not trust): why. */
  fallback?: string
}
