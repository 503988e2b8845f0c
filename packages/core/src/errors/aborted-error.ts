import { StrataError } from './strata-error.js'

/** The caller aborted the operation. */
export class AbortedError extends StrataError {
  readonly code = 'STRATA_ABORTED' as const
  constructor(readonly data: { operation: string }) {
    super(`${data.operation} was aborted`)
  }
}
