import { StrataError } from '@strata/core'

/**
 * A merge was refused because its result would break the database: `PRAGMA integrity_check` or
 * `PRAGMA foreign_key_check` reported problems, or applying a change failed. Nothing was
 * committed; `data.problems` says what SQLite reported.
 */
export class MergeRefusedError extends StrataError {
  readonly code = 'STRATA_MERGE_REFUSED' as const
  constructor(readonly data: { source: string; target: string; reason: string; problems: string[] }, options?: { cause?: unknown }) {
    super(`merging "${data.source}" into "${data.target}" was refused: ${data.reason}${data.problems.length ? ` (${data.problems.slice(0, 3).join('; ')}${data.problems.length > 3 ? '; …' : ''})` : ''}; nothing was committed`, options)
  }
}
