import { StrataError } from './strata-error.js'

/** A file handed to import is not a usable SQLite database. Nothing was written. */
export class InvalidDatabaseError extends StrataError {
  readonly code = 'STRATA_INVALID_DATABASE' as const
  constructor(readonly data: { path: string; reason: string }, options?: { cause?: unknown }) {
    super(`${data.path} is not a usable SQLite database: ${data.reason}; nothing was written`, options)
  }
}
