import { StrataError } from './strata-error.js'

/** An object that a manifest or ref references does not exist in the store. */
export class MissingObjectError extends StrataError {
  readonly code = 'STRATA_MISSING_OBJECT' as const
  constructor(readonly data: { key: string; referencedBy?: string }) {
    super(
      `object ${data.key} does not exist in the store` +
        (data.referencedBy ? ` (referenced by ${data.referencedBy})` : '') +
        `; it was deleted or never fully written: run \`strata verify\``,
    )
  }
}
