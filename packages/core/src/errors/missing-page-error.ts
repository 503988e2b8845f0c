import { StrataError } from './strata-error.js'

/** A page that should exist is in no level of the snapshot's fallback chain. Never zeros. */
export class MissingPageError extends StrataError {
  readonly code = 'STRATA_MISSING_PAGE' as const
  constructor(
    readonly data: { branch: string | null; snapshot: string; pageNo: number; pageCount: number; chain: string[] },
  ) {
    super(
      `page ${data.pageNo} of ${data.branch === null ? 'snapshot' : `branch "${data.branch}" at snapshot`} ` +
        `${data.snapshot} is missing from every level of its chain (${data.chain.join(' → ')}); ` +
        `the store is damaged: run \`strata verify\` to see what else is affected`,
    )
  }
}
