import { StrataError } from './strata-error.js'

/** An object key is not allowed: it would escape the store or holds forbidden characters. */
export class InvalidKeyError extends StrataError {
  readonly code = 'STRATA_INVALID_KEY' as const
  constructor(readonly data: { key: string; reason: string }) {
    super(`invalid object key ${JSON.stringify(data.key)}: ${data.reason}`)
  }
}
