import { StrataError } from './strata-error.js'

/** No branch has that name. */
export class BranchNotFoundError extends StrataError {
  readonly code = 'STRATA_BRANCH_NOT_FOUND' as const
  constructor(readonly data: { name: string }) {
    super(`no branch named "${data.name}"; list branches with \`strata branch list\``)
  }
}
