import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { KeyedMutex, TEST_S3_CREDENTIALS, TEST_S3_REGION, createTestBucket, startTestS3, type TestS3 } from '@strata/s3/testing'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('conditional-write proxy', () => {
  let s3: TestS3
  let client: S3Client
  const bucket = 'proxy-tests'
  // Unsigned requests: fauxqs does not check signatures, so plain fetch shows the raw HTTP answers.
  const put = (key: string, body: string, headers: Record<string, string> = {}, endpoint = s3.endpoint): Promise<Response> =>
    fetch(`${endpoint}/${bucket}/${key}`, { method: 'PUT', body, headers })
  const read = async (key: string): Promise<string | undefined> => {
    const res = await fetch(`${s3.upstreamEndpoint}/${bucket}/${key}`)
    return res.status === 200 ? res.text() : undefined
  }

  beforeAll(async () => {
    s3 = await startTestS3()
    await createTestBucket(s3.endpoint, bucket)
    client = new S3Client({ endpoint: s3.endpoint, region: TEST_S3_REGION, credentials: TEST_S3_CREDENTIALS, forcePathStyle: true, maxAttempts: 1 })
  })
  afterAll(async () => {
    client.destroy()
    await s3.stop()
  })

  test('If-None-Match: * creates once, then answers 412 PreconditionFailed and leaves the object alone', async () => {
    expect((await put('inm', 'first', { 'if-none-match': '*' })).status).toBe(200)
    const second = await put('inm', 'second', { 'if-none-match': '*' })
    expect(second.status).toBe(412)
    expect(await second.text()).toContain('<Code>PreconditionFailed</Code>')
    expect(await read('inm')).toBe('first')
  })

  test('If-Match replaces only the current ETag (quoted or bare); a missing key is 404 NoSuchKey', async () => {
    const etag = (await put('im', 'v1')).headers.get('etag') ?? ''
    expect(etag).toMatch(/^".+"$/)
    expect((await put('im', 'x', { 'if-match': '"0123"' })).status).toBe(412)
    expect((await put('im', 'v2', { 'if-match': etag })).status).toBe(200)
    expect((await put('im', 'v3', { 'if-match': etag })).status).toBe(412)
    const etag2 = (await fetch(`${s3.endpoint}/${bucket}/im`, { method: 'HEAD' })).headers.get('etag') ?? ''
    expect((await put('im', 'v3', { 'if-match': etag2.replaceAll('"', '') })).status).toBe(200)
    expect(await read('im')).toBe('v3')
    const missing = await put('im-missing', 'x', { 'if-match': etag2 })
    expect(missing.status).toBe(404)
    expect(await missing.text()).toContain('<Code>NoSuchKey</Code>')
    expect(await read('im-missing')).toBeUndefined()
  })

  test('the emulator alone overwrites despite the conditions: that is why the proxy exists', async () => {
    expect((await put('bare', 'a', {}, s3.upstreamEndpoint)).status).toBe(200)
    expect((await put('bare', 'b', { 'if-none-match': '*' }, s3.upstreamEndpoint)).status).toBe(200)
    expect(await read('bare')).toBe('b')
  })

  test('concurrent create-only puts on one key: exactly one wins and its bytes are stored', async () => {
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => put('race-create', `writer-${i}`, { 'if-none-match': '*' })))
    const winners = answers.flatMap((a, i) => (a.status === 200 ? [i] : []))
    expect(winners).toHaveLength(1)
    expect(answers.filter((a) => a.status === 412)).toHaveLength(23)
    expect(await read('race-create')).toBe(`writer-${winners[0]}`)
  })

  test('concurrent replace-if-version puts from one version: exactly one wins', async () => {
    const etag = (await put('race-cas', 'base')).headers.get('etag') ?? ''
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => put('race-cas', `writer-${i}`, { 'if-match': etag })))
    const winners = answers.flatMap((a, i) => (a.status === 200 ? [i] : []))
    expect(winners).toHaveLength(1)
    expect(await read('race-cas')).toBe(`writer-${winners[0]}`)
    expect(s3.proxy.lockedKeys).toBe(0)
  })

  test('SDK uploads pass through intact: streamed aws-chunked bodies and large bodies with Expect: 100-continue', async () => {
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 31 + 7) & 0xff)
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: big, IfNoneMatch: '*' }))
    // A second create-only upload of the same size is refused (before or after its body was sent).
    await expect(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: big, IfNoneMatch: '*' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 412 },
    })
    const streamed = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff)
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'streamed', Body: Readable.from([streamed.subarray(0, 100_000), streamed.subarray(100_000)]), ContentLength: streamed.byteLength }),
    )
    for (const [key, want] of [['big', big], ['streamed', streamed]] as const) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      expect(sha(await got.Body!.transformToByteArray())).toBe(sha(want))
    }
    const bigPuts = s3.proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/big`))
    expect(bigPuts.map((r) => [r.status, r.headers.expect, r.continued, r.bodyBytes])).toEqual([
      [200, '100-continue', true, big.byteLength],
      // The SDK's own agent waits for 100 Continue, so the refused upload sent no body at all.
      [412, '100-continue', false, 0],
    ])
    const streamedPut = s3.proxy.requests.find((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/streamed`))
    expect(streamedPut?.headers['content-encoding']).toContain('aws-chunked')
  })

  // A raw HTTP/1.1 PUT, so the test controls when the body goes out. `waitForContinue`: send
  // `Expect: 100-continue` and the body only after `100 Continue`, as RFC 9110 describes.
  const rawPut = (
    key: string,
    body: Uint8Array,
    headers: Record<string, string>,
    waitForContinue: boolean,
  ): Promise<{ status?: number; continued: boolean; error?: string }> =>
    new Promise((resolve) => {
      const url = new URL(`${s3.endpoint}/${bucket}/${key}`)
      const outcome: { status?: number; continued: boolean; error?: string } = { continued: false }
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: url.pathname,
        agent: false,
        headers: { ...headers, 'content-length': String(body.byteLength), ...(waitForContinue ? { expect: '100-continue' } : {}) },
      })
      req.on('continue', () => {
        outcome.continued = true
        req.end(body)
      })
      req.on('response', (res) => {
        outcome.status = res.statusCode
        res.resume()
        res.on('end', () => resolve(outcome))
        res.on('error', () => resolve(outcome))
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        outcome.error = err.code ?? err.message
        resolve(outcome)
      })
      if (!waitForContinue) req.end(body)
    })
  const lastPut = (key: string) => s3.proxy.requests.filter((r) => r.method === 'PUT' && r.url === `/${bucket}/${key}`).at(-1)

  test('Expect: 100-continue: a failed condition is answered 412 before any body byte is read; an accepted one gets 100 Continue', async () => {
    const body = new Uint8Array(3 * 1024 * 1024).fill(9)
    expect(await rawPut('continue', body, { 'if-none-match': '*' }, true)).toEqual({ status: 200, continued: true })
    expect(lastPut('continue')).toMatchObject({ status: 200, continued: true, bodyBytes: body.byteLength })

    expect(await rawPut('continue', body, { 'if-none-match': '*' }, true)).toEqual({ status: 412, continued: false })
    expect(lastPut('continue')).toMatchObject({ status: 412, continued: false, bodyBytes: 0 })

    // Without Expect the body is on its way: the proxy reads and drops it and answers 412.
    expect(await rawPut('continue', body, { 'if-none-match': '*' }, false)).toMatchObject({ status: 412, continued: false })
    expect(lastPut('continue')).toMatchObject({ status: 412, continued: false })
  })

  test('the closeEarly fault answers 412 and closes while the body is still arriving, or cuts a request whose condition holds', async () => {
    const body = new Uint8Array(8 * 1024 * 1024).fill(3)
    await put('early', 'small')
    s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT', pathIncludes: 'early' })
    const rejected = await rawPut('early', body, { 'if-none-match': '*' }, false)
    // The client sees the 412 or, still sending, the closed connection: never a 200.
    expect(rejected.status === 412 || ['EPIPE', 'ECONNRESET'].includes(rejected.error ?? '')).toBe(true)
    expect(lastPut('early')).toMatchObject({ status: 412, bodyBytes: 0 })
    expect(await read('early')).toBe('small')

    s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT', pathIncludes: 'early' })
    const cut = await rawPut('early-new', body, { 'if-none-match': '*' }, false)
    expect(cut.status).toBeUndefined()
    expect(['EPIPE', 'ECONNRESET']).toContain(cut.error)
    expect(lastPut('early-new')?.status).toBeUndefined()
    expect(await read('early-new')).toBeUndefined()
  })

  test('the emulator lists in byte order and pages without losing keys', async () => {
    const keys = ['p/a', 'p/A', 'p/a_b', 'p/a-b', 'p/a.c', 'p/b', 'p/B', 'p/Z']
    for (const k of keys) await put(k, k)
    const seen: string[] = []
    let token: string | undefined
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'p/', MaxKeys: 3, ContinuationToken: token }))
      seen.push(...(page.Contents ?? []).map((c) => c.Key ?? ''))
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    expect(seen).toEqual([...keys].sort())
  })

  test('faults answer matching requests only, as many times as asked', async () => {
    s3.proxy.injectFault({ status: 503, code: 'SlowDown' }, { method: 'GET', pathIncludes: 'faulty', times: 2 })
    await put('faulty', 'x')
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${s3.endpoint}/${bucket}/faulty`)).status)
    expect(statuses).toEqual([503, 503, 200])
    expect((await fetch(`${s3.endpoint}/${bucket}/inm`)).status).toBe(200)
  })
})

describe('KeyedMutex', () => {
  test('serialises holders of one key in arrival order and frees itself', async () => {
    const mutex = new KeyedMutex()
    const order: string[] = []
    const hold = async (name: string, keys: string[]): Promise<void> => {
      const release = await mutex.lock(keys)
      order.push(`+${name}`)
      await new Promise((r) => setTimeout(r, 5))
      order.push(`-${name}`)
      release()
    }
    await Promise.all([hold('a', ['k']), hold('b', ['k']), hold('c', ['k'])])
    expect(order).toEqual(['+a', '-a', '+b', '-b', '+c', '-c'])
    expect(mutex.size).toBe(0)
  })

  test('overlapping key sets taken in opposite orders do not deadlock', async () => {
    const mutex = new KeyedMutex()
    const runs = Array.from({ length: 20 }, async (_, i) => {
      const release = await mutex.lock(i % 2 ? ['x', 'y', 'z'] : ['z', 'y', 'x', 'x'])
      await new Promise((r) => setTimeout(r, 1))
      release()
      release() // releasing twice is harmless
    })
    await Promise.all(runs)
    expect(mutex.size).toBe(0)
  })
})
