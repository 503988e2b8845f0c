import type { HintCode } from './codes.js'
import { StrataError } from './strata-error.js'

/** An argument is malformed or out of range. */
export class InvalidArgumentError extends StrataError {
  readonly code = 'STRATA_INVALID_ARGUMENT' as const
  constructor(readonly data: { argument: string; reason: string }, options?: { hint?: HintCode }) {
    super(`invalid ${data.argument}: ${data.reason}`, options)
  }
}
