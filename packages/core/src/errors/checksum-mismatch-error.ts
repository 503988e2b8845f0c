import { StrataError } from './strata-error.js'

/** The whole-database checksum of produced bytes differs from the one the snapshot records. */
export class ChecksumMismatchError extends StrataError {
  readonly code = 'STRATA_CHECKSUM_MISMATCH' as const
  constructor(readonly data: { snapshot: string; expected: string; actual: string; operation: string }) {
    super(
      `${data.operation} of snapshot ${data.snapshot} produced a database whose checksum ${data.actual} ` +
        `differs from the recorded ${data.expected}; nothing was kept`,
    )
  }
}
