import { InvalidArgumentError, validateKey } from '@strata/core'

/** The parts of an `s3://bucket/prefix` URL. */
export interface S3Location {
  /** The bucket name. */
  bucket: string
  /** The key prefix every object of the store lives under, without leading or trailing `/`; `''` for the whole bucket. */
  prefix: string
}

// S3's bucket naming rules (also what R2 and MinIO accept): 3–63 characters, lowercase
// letters, digits, dots and hyphens, starting and ending with a letter or digit.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/**
 * Parse `s3://bucket`, `s3://bucket/` or `s3://bucket/some/prefix[/]`.
 *
 * The prefix must be a valid store key (see `validateKey`), so a store can never be rooted at a
 * path that escapes or aliases another. Query strings and fragments are refused: configuration
 * comes from options and the AWS environment, not from the URL, so one URL names one store.
 * Throws `InvalidArgumentError` on anything else.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/.exec(url)
  if (!m) {
    throw new InvalidArgumentError({ argument: 'S3 URL', reason: `${JSON.stringify(url)} is not of the form s3://bucket[/prefix]` })
  }
  const bucket = m[1] ?? ''
  if (!BUCKET.test(bucket)) {
    throw new InvalidArgumentError({
      argument: 'S3 URL',
      reason: `${JSON.stringify(bucket)} is not a valid bucket name (3–63 characters: a-z, 0-9, '.', '-')`,
    })
  }
  const prefix = (m[2] ?? '').replace(/\/+$/, '')
  if (prefix !== '') {
    try {
      validateKey(prefix)
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e)
      throw new InvalidArgumentError({ argument: 'S3 URL', reason: `bad prefix in ${JSON.stringify(url)}: ${reason}` })
    }
  }
  return { bucket, prefix }
}

/** The canonical URL of a location: `s3://bucket` or `s3://bucket/prefix`. */
export function formatS3Url(location: S3Location): string {
  return location.prefix === '' ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.prefix}`
}
