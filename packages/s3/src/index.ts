export { S3Store, endpointFromEnv, type ChecksumMode, type ResolvedS3Settings, type S3StoreConfig, type S3StoreOptions } from './s3-store.js'
export { parseS3Url, formatS3Url, type S3Location } from './s3-url.js'
export { isRetryable, backoffDelay, type RetryPolicy } from './retry.js'
