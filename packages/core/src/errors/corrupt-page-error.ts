import { StrataError } from './strata-error.js'

/** A page's bytes do not match the hash its manifest records. */
export class CorruptPageError extends StrataError {
  readonly code = 'STRATA_CORRUPT_PAGE' as const
  constructor(readonly data: { snapshot: string; pageNo: number; key: string; expected: string; actual: string }) {
    super(
      `page ${data.pageNo} of snapshot ${data.snapshot} read from ${data.key} is corrupt: ` +
        `hash ${data.actual} does not match the recorded ${data.expected}`,
    )
  }
}
