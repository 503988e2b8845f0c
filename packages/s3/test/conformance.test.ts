import { describeObjectStore } from '@strata/core/testing'
import { s3StoreFixture } from '@strata/s3/testing'

// The shared ObjectStore contract, unchanged, including its multi-process races: child processes
// open the same bucket and prefix through the fixture's child module.
describeObjectStore('S3Store', () => s3StoreFixture())

// A store confined to a deep prefix, with few parallel requests and small list pages, must
// behave identically.
describeObjectStore('S3Store (deep prefix, concurrency 2, list pages of 7)', () =>
  s3StoreFixture({ prefix: 'deep/er/prefix', store: { concurrency: 2, listPageSize: 7 } }),
)
