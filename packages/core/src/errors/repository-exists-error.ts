import { StrataError } from './strata-error.js'

/** `init` found a repository already in the store. */
export class RepositoryExistsError extends StrataError {
  readonly code = 'STRATA_REPOSITORY_EXISTS' as const
  constructor(readonly data: { store: string; storeId: string }) {
    super(`${data.store} already holds a Strata repository (store id ${data.storeId})`)
  }
}
