import { StrataError } from './strata-error.js'

/** A branch or tag name breaks the naming rules. */
export class InvalidNameError extends StrataError {
  readonly code = 'STRATA_INVALID_NAME' as const
  constructor(readonly data: { name: string; reason: string }) {
    super(
      `invalid name ${JSON.stringify(data.name)}: ${data.reason}. Names use letters, digits, '_', '-', '.' ` +
        `in '/'-separated segments (e.g. feature/login), at most 200 characters`,
    )
  }
}
