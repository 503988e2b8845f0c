import { StrataError } from './strata-error.js'

/** A stored object cannot be decoded or fails its own consistency checks. */
export class CorruptObjectError extends StrataError {
  readonly code = 'STRATA_CORRUPT_OBJECT' as const
  constructor(readonly data: { key: string; reason: string }, options?: { cause?: unknown }) {
    super(`object ${data.key} is corrupt: ${data.reason}`, options)
  }
}
