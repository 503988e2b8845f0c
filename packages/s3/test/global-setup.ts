import type { TestProject } from 'vitest/node'
import { startTestS3, TEST_S3_ENV } from '../src/testing/index.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 endpoints of this test run (see `TEST_S3_ENV` in `@strata/s3/testing`). */
    strataS3: { endpoint: string; localEndpoint: string; real: boolean }
  }
}

/**
 * Start the local S3 test server (fauxqs behind the conditional-write proxy, on 127.0.0.1) once
 * per run, publish its endpoint to tests (`inject('strataS3')`) and, through the environment, to
 * test workers and the processes they spawn. With `S3_TEST_ENDPOINT` set, suites use that
 * endpoint instead; the local server still serves the retry and proxy tests, which need a server
 * they control.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startTestS3()
  const real = process.env[TEST_S3_ENV.realEndpoint]
  const endpoint = real || server.endpoint
  process.env[TEST_S3_ENV.localEndpoint] = server.endpoint
  process.env[TEST_S3_ENV.endpoint] = endpoint
  project.provide('strataS3', { endpoint, localEndpoint: server.endpoint, real: Boolean(real) })
  return async () => {
    await server.stop()
  }
}
