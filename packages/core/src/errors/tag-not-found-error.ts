import { StrataError } from './strata-error.js'

/** No tag has that name. */
export class TagNotFoundError extends StrataError {
  readonly code = 'STRATA_TAG_NOT_FOUND' as const
  constructor(readonly data: { name: string }) {
    super(`no tag named "${data.name}"; list tags with \`strata tag list\``)
  }
}
