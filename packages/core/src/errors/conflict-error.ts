import { StrataError } from './strata-error.js'

/**
 * A conditional write lost a race: the object exists already (create-only) or changed since it
 * was read (replace-if-version). For a branch it means someone else moved it; re-read and retry.
 */
export class ConflictError extends StrataError {
  readonly code = 'STRATA_CONFLICT' as const
  constructor(
    readonly data: {
      key: string
      condition: 'if-none-match' | 'if-match'
      branch?: string
      expected?: string
      /** The branch head found instead of the expected one, when known. */
      actual?: string
      /** Pages both this change and the concurrent one changed (from `commitWithRetry`), ascending. */
      overlapping?: number[]
    },
    message?: string,
  ) {
    super(
      message ??
        (data.condition === 'if-none-match'
          ? `object ${data.key} already exists`
          : `object ${data.key} changed since it was read (expected version ${data.expected ?? '?'})`),
    )
  }
}
