import { StrataError } from './strata-error.js'

/** A branch with that name, or one that differs from it only in letter case, exists already. */
export class BranchExistsError extends StrataError {
  readonly code = 'STRATA_BRANCH_EXISTS' as const
  constructor(readonly data: { name: string; existing: string }) {
    super(
      data.existing === data.name
        ? `a branch named "${data.name}" already exists`
        : `branch "${data.name}" would differ from the existing "${data.existing}" only in letter case, which is not allowed`,
    )
  }
}
