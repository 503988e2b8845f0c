import type { HintCode } from './codes.js'
import { StrataError } from './strata-error.js'

/** A fallback names a store that is not allowed, cannot be reached, or is not the one recorded. */
export class StoreNotAllowedError extends StrataError {
  readonly code = 'STRATA_STORE_NOT_ALLOWED' as const
  constructor(readonly data: { url: string; snapshot?: string | undefined; reason: string }, options?: { cause?: unknown; hint?: HintCode }) {
    super(`${data.snapshot === undefined ? 'cannot open' : `cannot read snapshot ${data.snapshot} from`} store ${data.url}: ${data.reason}`, options)
  }
}
