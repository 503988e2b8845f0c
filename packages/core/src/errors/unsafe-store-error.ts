import { StrataError } from './strata-error.js'

/**
 * A store does not enforce conditional writes: a create-only put overwrote an existing object,
 * or a put with a stale version replaced the current one. Refs on such a store can lose updates
 * silently, so Strata refuses to create a repository there unless the caller opts in.
 */
export class UnsafeStoreError extends StrataError {
  readonly code = 'STRATA_UNSAFE_STORE' as const
  constructor(readonly data: { store: string; createOnly: string; replaceIfVersion: string }) {
    super(
      `store ${data.store} does not enforce compare-and-swap (create-only: ${data.createOnly}; replace-if-version: ${data.replaceIfVersion}): ` +
        `two writers could overwrite each other's branch updates without either noticing. Use a store that enforces ` +
        `If-None-Match/If-Match, or opt in explicitly (unsafeNoCas) if only one writer will ever use it`,
    )
  }
}
