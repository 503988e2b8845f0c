import { StrataError } from './strata-error.js'

/** No branch has that name. */
export class BranchNotFoundError extends StrataError {
  readonly code = 'STRATA_BRANCH_NOT_FOUND' as const
  constructor(readonly data: { name: string; /** Set when the name is being renamed to this one. */ movedTo?: string }) {
    super(
      data.movedTo === undefined
        ? `no branch named "${data.name}"; list branches with \`strata branch list\``
        : `branch "${data.name}" is being renamed to "${data.movedTo}"; use the new name (if the rename was interrupted, run it again to finish it)`,
    )
  }
}
