import { StrataError } from './strata-error.js'

/** No snapshot matches the id or prefix, or a prefix is ambiguous. */
export class SnapshotNotFoundError extends StrataError {
  readonly code = 'STRATA_SNAPSHOT_NOT_FOUND' as const
  constructor(readonly data: { ref: string; candidates?: string[] }) {
    super(
      data.candidates && data.candidates.length > 1
        ? `"${data.ref}" matches several snapshots (${data.candidates.slice(0, 5).join(', ')}…); give more characters`
        : `no branch, tag or snapshot matches "${data.ref}"`,
    )
  }
}
