import { describe, expect, test } from 'vitest'
import { S3Store, endpointFromEnv, formatS3Url, parseS3Url } from '@strata/s3'

describe('s3:// URLs', () => {
  test.each([
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
    ['s3://bucket/', { bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/db', { bucket: 'my.bucket-1', prefix: 'db' }],
    ['s3://bucket/teams/a/db/', { bucket: 'bucket', prefix: 'teams/a/db' }],
  ])('parses %s', (url, want) => {
    expect(parseS3Url(url)).toEqual(want)
    expect(parseS3Url(formatS3Url(want))).toEqual(want)
  })

  test.each([
    'bucket/prefix',
    'https://bucket/prefix',
    's3://',
    's3:///prefix',
    's3://Bucket/x',
    's3://ab/x',
    's3://bucket_name/x',
    's3://bucket/a/../b',
    's3://bucket//a',
    's3://bucket/a b',
    's3://bucket/x?region=eu-west-1',
    's3://bucket/x#frag',
  ])('refuses %s', (url) => {
    expect(() => parseS3Url(url)).toThrow(expect.objectContaining({ code: 'STRATA_INVALID_ARGUMENT' }))
  })

  test('the store url is canonical', () => {
    expect(S3Store.fromUrl('s3://bucket/a/b/', { region: 'us-east-1' }).url).toBe('s3://bucket/a/b')
    expect(S3Store.fromUrl('s3://bucket/', { region: 'us-east-1' }).url).toBe('s3://bucket')
    expect(new S3Store({ bucket: 'bucket', prefix: 'p/', region: 'us-east-1' }).url).toBe('s3://bucket/p')
  })
})

describe('endpoint and addressing', () => {
  test('AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; both yield to AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', () => {
    expect(endpointFromEnv({})).toBeUndefined()
    expect(endpointFromEnv({ AWS_ENDPOINT_URL: 'http://all:1' })).toBe('http://all:1')
    expect(endpointFromEnv({ AWS_ENDPOINT_URL: 'http://all:1', AWS_ENDPOINT_URL_S3: 'http://s3:2' })).toBe('http://s3:2')
    expect(endpointFromEnv({ AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: 'http://all:1' })).toBe('http://all:1')
    expect(endpointFromEnv({ AWS_ENDPOINT_URL_S3: 'http://s3:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined()
  })

  test('path-style addressing defaults on for custom endpoints and off for AWS; options override', () => {
    const saved = { s3: process.env['AWS_ENDPOINT_URL_S3'], any: process.env['AWS_ENDPOINT_URL'] }
    delete process.env['AWS_ENDPOINT_URL_S3']
    delete process.env['AWS_ENDPOINT_URL']
    try {
      expect(S3Store.fromUrl('s3://bucket/p', { region: 'eu-west-1' }).settings).toMatchObject({ endpoint: undefined, forcePathStyle: false })
      const custom = S3Store.fromUrl('s3://bucket/p', { endpoint: 'https://acct.r2.cloudflarestorage.com', region: 'auto' })
      expect(custom.settings).toMatchObject({ endpoint: 'https://acct.r2.cloudflarestorage.com', forcePathStyle: true })
      const virtual = S3Store.fromUrl('s3://bucket/p', { endpoint: 'https://s3.example.com', forcePathStyle: false })
      expect(virtual.settings.forcePathStyle).toBe(false)
      process.env['AWS_ENDPOINT_URL_S3'] = 'http://127.0.0.1:9000'
      expect(S3Store.fromUrl('s3://bucket').settings).toMatchObject({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true })
      expect(S3Store.fromUrl('s3://bucket', { endpoint: 'http://127.0.0.1:9001' }).settings.endpoint).toBe('http://127.0.0.1:9001')
    } finally {
      if (saved.s3 === undefined) delete process.env['AWS_ENDPOINT_URL_S3']
      else process.env['AWS_ENDPOINT_URL_S3'] = saved.s3
      if (saved.any === undefined) delete process.env['AWS_ENDPOINT_URL']
      else process.env['AWS_ENDPOINT_URL'] = saved.any
    }
  })

  test('concurrency, retry policy and page size have defaults and are checked', () => {
    const store = S3Store.fromUrl('s3://bucket', { region: 'us-east-1' })
    expect(store.settings).toMatchObject({
      concurrency: 64,
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 },
      listPageSize: 1000,
    })
    const tuned = S3Store.fromUrl('s3://bucket', { concurrency: 4, maxAttempts: 2, retryBaseDelayMs: 10, retryMaxDelayMs: 50, listPageSize: 10 })
    expect(tuned.settings).toMatchObject({ concurrency: 4, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 }, listPageSize: 10 })
    for (const bad of [{ concurrency: 0 }, { maxAttempts: 0 }, { maxAttempts: 1.5 }, { listPageSize: 1001 }, { retryBaseDelayMs: -1 }]) {
      expect(() => S3Store.fromUrl('s3://bucket', bad)).toThrow(expect.objectContaining({ code: 'STRATA_INVALID_ARGUMENT' }))
    }
  })
})
