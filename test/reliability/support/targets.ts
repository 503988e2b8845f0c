import type { ObjectStore } from '@strata/core'
import { localStoreFixture } from '@strata/core/testing'
import { s3StoreFixture } from '@strata/s3/testing'
import type { ChildStoreSpec } from './open-child-store.js'

/** A fresh, empty store for one test, and how worker processes open the same store. */
export interface StoreTarget {
  store: ObjectStore
  child: ChildStoreSpec
  cleanup(): Promise<void>
}

/**
 * The stores the cross-process tests run against: a local directory, and a bucket on the S3 test
 * server (fauxqs behind the conditional-write proxy) that the vitest global setup starts.
 */
export const TARGETS: readonly { name: string; make: () => Promise<StoreTarget> }[] = [
  { name: 'LocalStore', make: () => localStoreFixture() },
  { name: 'S3Store', make: () => s3StoreFixture() },
]
