import { StrataError } from './strata-error.js'

/** A store operation failed for a reason outside Strata. The original error is the `cause`. */
export class StoreError extends StrataError {
  readonly code = 'STRATA_STORE_ERROR' as const
  constructor(
    readonly data: { operation: string; key: string; store: string; retryable: boolean },
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause
    const why = cause instanceof Error ? cause.message : cause === undefined ? 'unknown error' : String(cause)
    super(`${data.store}: ${data.operation} ${data.key}: ${why}`, options)
  }
}
