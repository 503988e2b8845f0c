import { StrataError } from './strata-error.js'

/**
 * The store was written by an older format that this build reads but does not write: it opens
 * read-only, and `strata upgrade` (`Repository.upgrade`) brings it to the current format in place.
 */
export class UpgradeRequiredError extends StrataError {
  readonly code = 'STRATA_UPGRADE_REQUIRED' as const
  constructor(readonly data: { store: string; found: string; current: string; operation: string }) {
    super(
      `store ${data.store} uses Strata format ${data.found}, which this build reads but does not write (current: ${data.current}); ` +
        `${data.operation} refused. Stop any older Strata writing to it, then run \`strata upgrade\``,
    )
  }
}
