import { StrataError } from './strata-error.js'

/** The operation is not allowed on this branch. */
export class ProtectedBranchError extends StrataError {
  readonly code = 'STRATA_PROTECTED_BRANCH' as const
  constructor(readonly data: { name: string; operation: string }) {
    super(`branch "${data.name}" cannot be ${data.operation}`)
  }
}
