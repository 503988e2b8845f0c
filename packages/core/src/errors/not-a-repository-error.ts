import { StrataError } from './strata-error.js'

/** The store holds no Strata format marker. */
export class NotARepositoryError extends StrataError {
  readonly code = 'STRATA_NOT_A_REPOSITORY' as const
  constructor(readonly data: { store: string }) {
    super(`${data.store} is not a Strata repository; create one with \`strata init\``)
  }
}
