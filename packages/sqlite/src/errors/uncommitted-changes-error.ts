import { StrataError } from '@strata/core'

/**
 * A live branch has changes that are not committed, and the requested operation would lose them
 * (closing or switching without saying what to do with them). Nothing was changed: commit, or
 * repeat the call with an explicit `commit` or `discard` option.
 */
export class UncommittedChangesError extends StrataError {
  readonly code = 'STRATA_UNCOMMITTED_CHANGES' as const
  constructor(readonly data: { branch: string; operation: string }) {
    super(
      `branch "${data.branch}" has uncommitted changes; ${data.operation} would lose them. ` +
        `Commit first, or pass an explicit option to commit or discard them`,
    )
  }
}
