import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, LocalStore, type ObjectStore } from '@strata/core'

/** The environment variable that names the store when `--store` is not given. */
export const STORE_ENV = 'STRATA_STORE'

/**
 * Open the store named by `spec`: a plain path or `file://` URL is a local-directory store,
 * `s3://bucket[/prefix]` an S3 store (configured from the standard AWS environment:
 * `AWS_ENDPOINT_URL_S3`, `AWS_REGION`, `AWS_PROFILE`, credentials…). Any other URL scheme is
 * an `InvalidArgumentError`.
 *
 * With `create: false` a local directory is not created (so a mistyped path stays a mistake
 * instead of becoming an empty store); with `create: true` it is.
 */
export async function openStore(spec: string, opts: { create: boolean }): Promise<ObjectStore> {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(spec)?.[1]?.toLowerCase()
  if (scheme === 's3') {
    // The SDK warns on stderr, once per process, that its future releases will need a newer Node;
    // in a command-line tool that notice is noise on every run. An explicit setting wins.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    // Loaded on demand: the AWS SDK is large and local stores never need it.
    const { S3Store } = await import('@strata/s3')
    return S3Store.fromUrl(spec)
  }
  if (scheme !== undefined && scheme !== 'file') {
    throw new InvalidArgumentError({
      argument: 'store',
      reason: `unsupported store URL ${JSON.stringify(spec)}: use a directory path, file:///dir or s3://bucket/prefix`,
    })
  }
  if (spec === '') throw new InvalidArgumentError({ argument: 'store', reason: 'the store location is empty' })
  const path = scheme === 'file' ? fileURLToPath(spec) : spec
  return opts.create ? LocalStore.open(path) : new LocalStore(path)
}
