export { S3TestProxy, type FaultMatch, type InjectedFault, type ProxiedRequest, type S3TestProxyOptions } from './s3-proxy.js'
export { KeyedMutex } from './keyed-mutex.js'
export { startFauxqs, type FauxqsServer } from './fauxqs-server.js'
export { startTestS3, createTestBucket, TEST_S3_CREDENTIALS, TEST_S3_REGION, type TestS3 } from './test-s3.js'
export {
  TEST_S3_ENV,
  s3TestTarget,
  localS3TestTarget,
  localTarget,
  newS3TestLocation,
  s3TestEnv,
  type S3TestLocation,
  type S3TestTarget,
} from './test-target.js'
export { openStore, type S3ChildStoreArg } from './open-store.js'
export { s3StoreFixture, type S3StoreFixture, type S3StoreFixtureOptions } from './s3-store-fixture.js'
