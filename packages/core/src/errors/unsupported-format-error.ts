import { StrataError } from './strata-error.js'

/** The store (or one object in it) uses a format version this build cannot read. */
export class UnsupportedFormatError extends StrataError {
  readonly code = 'STRATA_UNSUPPORTED_FORMAT' as const
  constructor(readonly data: { key: string; found: string; supported: string }) {
    super(
      `object ${data.key} uses Strata format ${data.found}, but this build reads format ${data.supported}; ` +
        `upgrade Strata to open this store`,
    )
  }
}
