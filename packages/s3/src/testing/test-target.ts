import { randomBytes } from 'node:crypto'
import { S3Store, type S3StoreOptions } from '../s3-store.js'
import { TEST_S3_CREDENTIALS, TEST_S3_REGION, createTestBucket } from './test-s3.js'

/**
 * Environment variables of the test setup. The vitest global setup of `@strata/s3` sets the
 * `STRATA_TEST_S3_*` ones for every test process and the processes they spawn; a person sets
 * `S3_TEST_ENDPOINT` and `S3_TEST_BUCKET` (plus the usual `AWS_*` credentials and region) to run
 * the suites against a real bucket instead.
 */
export const TEST_S3_ENV = {
  /** The local test server (fauxqs behind the conditional-write proxy). Always set by the setup. */
  localEndpoint: 'STRATA_TEST_S3_LOCAL_ENDPOINT',
  /** The endpoint suites run against: the real one when configured, else the local one. */
  endpoint: 'STRATA_TEST_S3_ENDPOINT',
  /** A real S3-compatible endpoint to test against (set by a person). */
  realEndpoint: 'S3_TEST_ENDPOINT',
  /** The bucket to use on the real endpoint; tests work under a fresh prefix in it and delete what they wrote. */
  realBucket: 'S3_TEST_BUCKET',
} as const

/** Where S3 tests run and how to reach it. */
export interface S3TestTarget {
  /** True for a real endpoint configured with `S3_TEST_ENDPOINT`, false for the local server. */
  real: boolean
  endpoint: string
  /** Store options that reach it (credentials and region: fixed ones locally, the AWS chain for a real endpoint). */
  options: S3StoreOptions
}

/**
 * The target S3 suites run against: `S3_TEST_ENDPOINT` (with `S3_TEST_BUCKET`) when set, else the
 * local test server. Throws if neither is available (the global setup did not run).
 */
export function s3TestTarget(): S3TestTarget {
  const real = process.env[TEST_S3_ENV.realEndpoint]
  if (real) {
    if (!process.env[TEST_S3_ENV.realBucket]) throw new Error(`${TEST_S3_ENV.realEndpoint} is set but ${TEST_S3_ENV.realBucket} is not`)
    return { real: true, endpoint: real, options: { endpoint: real } }
  }
  return localS3TestTarget()
}

/** The local test server, whatever `S3_TEST_ENDPOINT` says: for tests of retries and the proxy, which need a server they control. */
export function localS3TestTarget(): S3TestTarget {
  const endpoint = process.env[TEST_S3_ENV.localEndpoint]
  if (!endpoint) {
    throw new Error(`${TEST_S3_ENV.localEndpoint} is not set: run the tests through vitest (its global setup starts the local S3 server) or call startTestS3()`)
  }
  return localTarget(endpoint)
}

/** A target for a local server started with `startTestS3()`. */
export function localTarget(endpoint: string): S3TestTarget {
  return {
    real: false,
    endpoint,
    options: { endpoint, region: TEST_S3_REGION, credentials: { ...TEST_S3_CREDENTIALS }, forcePathStyle: true },
  }
}

/**
 * The environment a spawned process (e.g. the `strata` CLI) needs to reach `target` through the
 * standard AWS variables: endpoint, and locally also region and the test credentials. Merge it
 * over `process.env`.
 */
export function s3TestEnv(target: S3TestTarget = s3TestTarget()): Record<string, string> {
  if (target.real) return { AWS_ENDPOINT_URL_S3: target.endpoint }
  return {
    AWS_ENDPOINT_URL_S3: target.endpoint,
    AWS_REGION: TEST_S3_REGION,
    AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
  }
}

/** A private place in a test bucket: its own bucket locally, its own prefix in `S3_TEST_BUCKET` on a real endpoint. */
export interface S3TestLocation {
  bucket: string
  /** The prefix everything of this location lives under; `''` when it has the bucket to itself. */
  base: string
  target: S3TestTarget
  /** `s3://bucket/<base>/<sub>`: the URL of a store inside this location. */
  url(sub?: string): string
  /** Open an S3Store at `url(sub)` with the target's options plus `options`. */
  open(sub?: string, options?: S3StoreOptions): S3Store
  /** Delete every object under `base`. */
  cleanup(): Promise<void>
}

/** Make a fresh {@link S3TestLocation} on `target` (default {@link s3TestTarget}); `name` only makes it recognisable. */
export async function newS3TestLocation(name: string, target: S3TestTarget = s3TestTarget()): Promise<S3TestLocation> {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30) || 'test'
  const unique = randomBytes(6).toString('hex')
  let bucket: string
  let base: string
  if (target.real) {
    bucket = process.env[TEST_S3_ENV.realBucket] ?? ''
    base = `strata-test/${slug}-${unique}`
  } else {
    bucket = `strata-${slug}-${unique}`
    base = ''
    await createTestBucket(target.endpoint, bucket)
  }
  const join = (sub: string): string => [base, sub.replace(/^\/+|\/+$/g, '')].filter((s) => s !== '').join('/')
  const url = (sub = ''): string => {
    const prefix = join(sub)
    return prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`
  }
  return {
    bucket,
    base,
    target,
    url,
    open: (sub = '', options = {}) => S3Store.fromUrl(url(sub), { ...target.options, ...options }),
    cleanup: async () => {
      const store = S3Store.fromUrl(url(), target.options)
      try {
        const keys: string[] = []
        for await (const object of store.list('')) keys.push(object.key)
        await store.delete(keys)
      } finally {
        await store.close()
      }
    },
  }
}
