import { StrataError } from './strata-error.js'

/** A tag with that name, or one that differs from it only in letter case, exists already. Tags never move. */
export class TagExistsError extends StrataError {
  readonly code = 'STRATA_TAG_EXISTS' as const
  constructor(readonly data: { name: string; existing: string; snapshot: string }) {
    super(
      data.existing === data.name
        ? `tag "${data.name}" already exists (on ${data.snapshot.slice(0, 12)}); tags never move — delete it first with \`strata tag delete ${data.name}\` or choose another name`
        : `tag "${data.name}" would differ from the existing "${data.existing}" only in letter case, which is not allowed`,
    )
  }
}
