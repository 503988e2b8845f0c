import { fileURLToPath } from 'node:url'
import type { S3Store, S3StoreOptions } from '../s3-store.js'
import type { S3ChildStoreArg } from './open-store.js'
import { newS3TestLocation, s3TestTarget, type S3TestTarget } from './test-target.js'

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/** A store for one test, shaped like the `StoreFixture` of `@strata/core/testing`'s conformance suite. */
export interface S3StoreFixture {
  store: S3Store
  /** Delete what the test wrote and close the store. */
  cleanup(): Promise<void>
  /** `module` exports `openStore(arg)`; child processes use it to open the same store. */
  child: { module: string; arg: S3ChildStoreArg }
}

/** Options of {@link s3StoreFixture}. */
export interface S3StoreFixtureOptions {
  /** Store options on top of the target's (endpoint, credentials). */
  store?: S3StoreOptions
  /** The store's prefix inside its test location. Default `store`. */
  prefix?: string
  /** Where to run. Default: {@link s3TestTarget}. */
  target?: S3TestTarget
}

/**
 * A fresh, empty {@link S3Store} on the test target (a bucket of its own on the local server, or a
 * fresh prefix in `S3_TEST_BUCKET`), as a conformance-suite fixture: `cleanup` deletes what the test
 * wrote and closes the store, and `child` lets other processes open the same store.
 */
export async function s3StoreFixture(fixture: S3StoreFixtureOptions = {}): Promise<S3StoreFixture> {
  const target = fixture.target ?? s3TestTarget()
  const options = fixture.store ?? {}
  const location = await newS3TestLocation('fixture', target)
  const store = location.open(fixture.prefix ?? 'store', options)
  const arg: S3ChildStoreArg = { url: store.url, options: { ...target.options, ...options } }
  return {
    store,
    cleanup: async () => {
      await store.close()
      await location.cleanup()
    },
    child: { module: fileURLToPath(new URL(`./open-store${extension}`, import.meta.url)), arg },
  }
}
