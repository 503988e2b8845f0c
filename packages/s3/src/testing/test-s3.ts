import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { startFauxqs } from './fauxqs-server.js'
import { S3TestProxy } from './s3-proxy.js'

/** The credentials tests sign with against the local server (which does not check them). */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'strata-test', secretAccessKey: 'strata-test-secret' } as const

/** The region tests sign for against the local server. */
export const TEST_S3_REGION = 'us-east-1'

/** A local S3 server for tests: fauxqs behind the conditional-write proxy, both on 127.0.0.1. */
export interface TestS3 {
  /** The proxy's `http://127.0.0.1:<port>`: the endpoint to use (path-style addressing). */
  endpoint: string
  /** fauxqs itself, without enforced conditions. */
  upstreamEndpoint: string
  /** The conditional-write proxy (its request log and fault injection are live). */
  proxy: S3TestProxy
  /** Stop the proxy and the server; every bucket and object is gone. */
  stop(): Promise<void>
}

/**
 * Start a local S3 server for tests or scripts outside vitest: fauxqs (in memory) on 127.0.0.1,
 * behind an {@link S3TestProxy} that enforces `If-None-Match` / `If-Match`. Nothing listens on
 * other interfaces. Buckets must be created first (see {@link createTestBucket}).
 */
export async function startTestS3(): Promise<TestS3> {
  const server = await startFauxqs()
  let proxy: S3TestProxy
  try {
    proxy = await S3TestProxy.start({ upstream: server.endpoint })
  } catch (err) {
    await server.stop()
    throw err
  }
  return {
    endpoint: proxy.endpoint,
    upstreamEndpoint: server.endpoint,
    proxy,
    stop: async () => {
      await proxy.close()
      await server.stop()
    },
  }
}

/** Create `bucket` on a local test endpoint (path-style, test credentials). Creating an existing bucket is a no-op. */
export async function createTestBucket(endpoint: string, bucket: string): Promise<void> {
  const client = new S3Client({
    endpoint,
    region: TEST_S3_REGION,
    credentials: TEST_S3_CREDENTIALS,
    forcePathStyle: true,
    maxAttempts: 3,
  })
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (err) {
    const name = (err as { name?: string }).name
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err
  } finally {
    client.destroy()
  }
}
