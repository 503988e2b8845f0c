import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { S3Store, backoffDelay, isRetryable } from '@strata/s3'
import { S3TestProxy, localS3TestTarget, localTarget, newS3TestLocation, type S3TestLocation } from '@strata/s3/testing'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

// A fault-injecting proxy in front of the local test server: real HTTP answers (503, 500, cut
// connections), so the SDK's parsing and our retry policy run exactly as against a provider.
describe('S3Store retries', () => {
  let faults: S3TestProxy
  let loc: S3TestLocation
  let store: S3Store
  const count = (method: string): number => faults.requests.filter((r) => r.method === method).length

  beforeAll(async () => {
    faults = await S3TestProxy.start({ upstream: localS3TestTarget().endpoint, conditionalWrites: false })
    loc = await newS3TestLocation('retry', localTarget(faults.endpoint))
    store = loc.open('db', { maxAttempts: 4, retryBaseDelayMs: 1, retryMaxDelayMs: 5 })
  })
  afterAll(async () => {
    await store.close()
    await loc.cleanup()
    await faults.close()
  })
  beforeEach(() => {
    faults.clearFaults()
    faults.clearLog()
  })

  test('503 SlowDown and 500 InternalError are retried until the request succeeds', async () => {
    faults.injectFault({ status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' }, { method: 'PUT', times: 2 })
    faults.injectFault({ status: 500, code: 'InternalError' }, { method: 'PUT' })
    await store.put('a', bytes('one'))
    expect(faults.requests.map((r) => r.status)).toEqual([503, 503, 500, 200])

    faults.clearLog()
    faults.injectFault({ status: 503, code: 'SlowDown' }, { method: 'GET', times: 3 })
    expect(text((await store.get('a'))?.body)).toBe('one')
    expect(count('GET')).toBe(4)
  })

  test('429, 502 and reset connections are retried for head, list and delete', async () => {
    faults.injectFault({ status: 429, code: 'TooManyRequests' }, { method: 'HEAD' })
    faults.injectFault({ reset: true }, { method: 'HEAD' })
    expect((await store.head('a'))?.size).toBe(3)
    expect(count('HEAD')).toBe(3)

    faults.injectFault({ status: 502, code: 'BadGateway' }, { method: 'GET' })
    faults.injectFault({ reset: true }, { method: 'GET' })
    const keys: string[] = []
    for await (const o of store.list('')) keys.push(o.key)
    expect(keys).toEqual(['a'])

    faults.injectFault({ status: 503, code: 'SlowDown' }, { method: 'POST' })
    await store.put('b', bytes('two'))
    await store.delete(['b'])
    expect(await store.head('b')).toBeNull()
    expect(count('POST')).toBe(2)
  })

  test('giving up after maxAttempts throws a retryable StoreError with the last SDK error as cause', async () => {
    faults.injectFault({ status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' }, { method: 'GET', times: 10 })
    await expect(store.get('a')).rejects.toMatchObject({
      code: 'STRATA_STORE_ERROR',
      data: { operation: 'get', key: 'a', store: store.url, retryable: true },
      cause: { name: 'SlowDown' },
    })
    expect(count('GET')).toBe(4)
  })

  test('a 412 is not retried; a create-only put asks once what the key holds', async () => {
    await store.put('ref', bytes('v1'))
    faults.clearLog()
    await expect(store.put('ref', bytes('other'), { ifNoneMatch: '*' })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
    await expect(store.put('ref', bytes('v2'), { ifMatch: '"stale"' })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
    // A different size settles it on the HEAD.
    expect(faults.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 412', 'HEAD 200', 'PUT 412'])
  })

  test("AWS's 409 ConditionalRequestConflict is a conflict when the key holds other bytes", async () => {
    const { version } = await store.put('ref409', bytes('v1'))
    faults.clearLog()
    faults.injectFault({ status: 409, code: 'ConditionalRequestConflict' }, { method: 'PUT', times: 2 })
    await expect(store.put('ref409', bytes('v2'), { ifMatch: version })).rejects.toMatchObject({
      code: 'STRATA_CONFLICT',
      data: { key: 'ref409', condition: 'if-match', expected: version },
    })
    await expect(store.put('ref409', bytes('v2'), { ifNoneMatch: '*' })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
    // Same size, other ETag: an ETag need not be an MD5 (SSE-KMS), so the bytes are compared.
    expect(faults.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 409', 'PUT 409', 'HEAD 200', 'GET 200'])
    expect(text((await store.get('ref409'))?.body)).toBe('v1')
  })

  test('a 404 on If-Match, a 403 and a 400 are not retried', async () => {
    await expect(store.put('absent', bytes('x'), { ifMatch: '"v"' })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
    faults.injectFault({ status: 403, code: 'AccessDenied', message: 'Access Denied' }, { method: 'GET', times: 5 })
    await expect(store.get('a')).rejects.toMatchObject({ code: 'STRATA_STORE_ERROR', data: { retryable: false } })
    faults.injectFault({ status: 400, code: 'InvalidRequest' }, { method: 'PUT', times: 5 })
    await expect(store.put('c', bytes('x'))).rejects.toMatchObject({ code: 'STRATA_STORE_ERROR', data: { retryable: false } })
    expect(faults.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 404', 'GET 403', 'PUT 400'])
  })

  test('a create-only put whose answer was lost is recognised as our own write on retry', async () => {
    faults.injectFault({ dropResponse: true }, { method: 'PUT' })
    const { version } = await store.put('lost', bytes('mine'), { ifNoneMatch: '*' })
    expect((await store.head('lost'))?.version).toBe(version)
    // One HEAD found the object the cut attempt wrote: same size, and its ETag is our bytes' MD5.
    expect(faults.requests.map((r) => `${r.method} ${r.status ?? 'cut'}`)).toEqual(['PUT cut', 'HEAD 200', 'HEAD 200'])
  })

  test('a replace-if-version put whose answer was lost is recognised as our own write on retry', async () => {
    const { version } = await store.put('cas', bytes('v1'))
    faults.injectFault({ dropResponse: true }, { method: 'PUT' })
    const v2 = await store.put('cas', bytes('v2'), { ifMatch: version })
    expect(v2.version).not.toBe(version)
    expect(text((await store.get('cas'))?.body)).toBe('v2')
  })

  test('a replace-if-version put whose answer was lost and whose write was then overwritten is a conflict', async () => {
    const { version } = await store.put('cas2', bytes('v1'))
    const other = loc.open('db', { maxAttempts: 1 })
    try {
      faults.injectFault(
        { dropResponse: true, beforeDrop: async () => void (await other.put('cas2', bytes('theirs'))) },
        { method: 'PUT', pathIncludes: 'cas2' },
      )
      await expect(store.put('cas2', bytes('v2'), { ifMatch: version })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
      expect(text((await store.get('cas2'))?.body)).toBe('theirs')
    } finally {
      await other.close()
    }
  })

  test('maxAttempts 1 disables retries', async () => {
    const once = loc.open('db', { maxAttempts: 1 })
    try {
      faults.injectFault({ status: 503, code: 'SlowDown' }, { method: 'GET' })
      await expect(once.get('a')).rejects.toMatchObject({ code: 'STRATA_STORE_ERROR', data: { retryable: true } })
      expect(count('GET')).toBe(1)
    } finally {
      await once.close()
    }
  })

  test('an abort during backoff ends the retries with AbortedError', async () => {
    const slow = loc.open('db', { maxAttempts: 10, retryBaseDelayMs: 10_000, retryMaxDelayMs: 10_000 })
    try {
      faults.injectFault({ status: 503, code: 'SlowDown' }, { method: 'GET', times: 10 })
      const ac = new AbortController()
      const pending = slow.get('a', { signal: ac.signal })
      await expect.poll(() => count('GET')).toBe(1)
      ac.abort()
      await expect(pending).rejects.toMatchObject({ code: 'STRATA_ABORTED' })
    } finally {
      await slow.close()
    }
  })

  test('concurrency bounds the requests in flight', async () => {
    const narrow = loc.open('db', { concurrency: 3 })
    try {
      await Promise.all(Array.from({ length: 60 }, (_, i) => narrow.put(`c/${i}`, bytes('x'.repeat(10_000)))))
      const puts = faults.requests.filter((r) => r.method === 'PUT')
      expect(puts).toHaveLength(60)
      // Sweep arrival and completion times at the proxy for the largest overlap.
      const events = puts.flatMap((r) => [
        { t: r.startedAt, d: 1 },
        { t: r.endedAt ?? Infinity, d: -1 },
      ])
      events.sort((a, b) => a.t - b.t || a.d - b.d)
      let now = 0
      let peak = 0
      for (const e of events) peak = Math.max(peak, (now += e.d))
      expect(peak).toBeLessThanOrEqual(3)
      expect(peak).toBeGreaterThan(1)
    } finally {
      await narrow.close()
    }
  })
})

describe('retry policy', () => {
  test('classifies answers and network errors', () => {
    const sdk = (status: number, name: string): object => ({ name, $metadata: { httpStatusCode: status } })
    expect(isRetryable(sdk(503, 'SlowDown'))).toBe(true)
    expect(isRetryable(sdk(500, 'InternalError'))).toBe(true)
    expect(isRetryable(sdk(429, 'TooManyRequests'))).toBe(true)
    expect(isRetryable(sdk(400, 'RequestTimeout'))).toBe(true)
    expect(isRetryable(sdk(412, 'PreconditionFailed'))).toBe(false)
    expect(isRetryable(sdk(409, 'ConditionalRequestConflict'))).toBe(false)
    expect(isRetryable(sdk(404, 'NoSuchKey'))).toBe(false)
    expect(isRetryable(sdk(403, 'AccessDenied'))).toBe(false)
    expect(isRetryable(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(true)
    expect(isRetryable(Object.assign(new Error('timed out'), { name: 'TimeoutError' }))).toBe(true)
    expect(isRetryable(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe(false)
    expect(isRetryable(new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'EPIPE' }) }))).toBe(true)
    expect(isRetryable(new TypeError('bug'))).toBe(false)
  })

  test('backoff is full jitter over an exponential window with a cap', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 }
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n, () => 0.999999))).toEqual([99, 199, 399, 799, 999])
    expect(backoffDelay(policy, 3, () => 0)).toBe(0)
  })
})
