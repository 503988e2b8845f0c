import { createHash } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { S3Store } from '@strata/s3'
import { localTarget, newS3TestLocation, startTestS3, type S3TestLocation, type TestS3 } from '@strata/s3/testing'

const MiB = 1024 * 1024
const segment = (seed: number, size = 4 * MiB): Uint8Array => new Uint8Array(size).map((_, i) => (i * 131 + seed * 7 + (i >> 12)) & 0xff)
const md5 = (b: Uint8Array): string => `"${createHash('md5').update(b).digest('hex')}"`

// Create-only puts of content that may already be stored (segments, manifests, records) must be
// idempotent whatever the provider answers: a 412 before the body was sent, a 412 followed by a
// closed connection (the client sees EPIPE or ECONNRESET), a 409 or a cut connection. A test
// server of its own (fauxqs behind the conditional-write proxy) produces each of those answers
// over real HTTP.
describe('S3Store create-only puts are idempotent', () => {
  let s3: TestS3
  let loc: S3TestLocation
  let store: S3Store
  const log = (): string[] => s3.proxy.requests.map((r) => `${r.method} ${r.status ?? 'cut'}`)

  beforeAll(async () => {
    s3 = await startTestS3()
    loc = await newS3TestLocation('create-only', localTarget(s3.endpoint))
    store = loc.open('db', { maxAttempts: 4, retryBaseDelayMs: 1, retryMaxDelayMs: 5 })
  })
  afterAll(async () => {
    await store.close()
    await loc.cleanup()
    await s3.stop()
  })
  beforeEach(() => {
    s3.proxy.clearFaults()
    s3.proxy.clearLog()
  })

  test('the same bytes again succeed with the stored version: one PUT answered 412, one HEAD, no GET', async () => {
    const body = segment(1)
    const first = await store.put('segments/a', body, { ifNoneMatch: '*' })
    expect(first.version).toBe(md5(body))
    s3.proxy.clearLog()
    expect(await store.put('segments/a', body, { ifNoneMatch: '*' })).toEqual(first)
    expect(log()).toEqual(['PUT 412', 'HEAD 200'])
    // The store does not announce Expect: 100-continue, since its client sends bodies without waiting for one.
    expect(s3.proxy.requests[0]?.headers.expect).toBeUndefined()
  })

  test('other bytes of the same size are a typed conflict, decided by reading the object back', async () => {
    const body = segment(2)
    await store.put('segments/b', body, { ifNoneMatch: '*' })
    s3.proxy.clearLog()
    await expect(store.put('segments/b', segment(3), { ifNoneMatch: '*' })).rejects.toMatchObject({
      code: 'STRATA_CONFLICT',
      data: { key: 'segments/b', condition: 'if-none-match' },
    })
    expect(log()).toEqual(['PUT 412', 'HEAD 200', 'GET 200'])
    expect((await store.head('segments/b'))?.version).toBe(md5(body))
  })

  test('an early 412 with the connection closed mid-body is resolved, not surfaced as EPIPE', async () => {
    const body = segment(4)
    await store.put('segments/c', body, { ifNoneMatch: '*' })
    for (let i = 0; i < 5; i++) {
      s3.proxy.clearLog()
      s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT' })
      expect((await store.put('segments/c', body, { ifNoneMatch: '*' })).version).toBe(md5(body))
      // Answered 412 and closed after reading at most part of the body; the HEAD settles it, no second upload.
      expect(log()).toEqual(['PUT 412', 'HEAD 200'])
      expect(s3.proxy.requests[0]?.bodyBytes).toBeLessThan(body.byteLength)
    }
  })

  test('a connection cut mid-body on a new key is retried after the HEAD finds nothing', async () => {
    const body = segment(6)
    s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT' })
    expect((await store.put('segments/d', body, { ifNoneMatch: '*' })).version).toBe(md5(body))
    expect(log()).toEqual(['PUT cut', 'HEAD 404', 'PUT 200'])
  })

  test('a 409 ConditionalRequestConflict while the key is still absent is retried', async () => {
    s3.proxy.injectFault({ status: 409, code: 'ConditionalRequestConflict' }, { method: 'PUT' })
    await store.put('records/e', new TextEncoder().encode('record'), { ifNoneMatch: '*' })
    expect(log()).toEqual(['PUT 409', 'HEAD 404', 'PUT 200'])
  })

  test('a 412 for a key that is gone by the time of the HEAD is retried', async () => {
    s3.proxy.injectFault({ status: 412, code: 'PreconditionFailed' }, { method: 'PUT' })
    await store.put('records/f', new TextEncoder().encode('record'), { ifNoneMatch: '*' })
    expect(log()).toEqual(['PUT 412', 'HEAD 404', 'PUT 200'])
  })
})
