import { StrataError } from '@strata/core'

/**
 * The operation is not possible in the handle's current state: it is closed, a SQL transaction
 * is open on its database, or the branch it names is the one the handle has open. Nothing was
 * changed.
 */
export class InvalidStateError extends StrataError {
  readonly code = 'STRATA_INVALID_STATE' as const
  constructor(readonly data: { operation: string; reason: string }, options?: { cause?: unknown }) {
    super(`cannot ${data.operation}: ${data.reason}`, options)
  }
}
