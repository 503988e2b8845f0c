import { createHash } from 'node:crypto'
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
    expect(bigPuts.map((r) => [r.status, r.headers.expect])).toEqual([
      [200, '100-continue'],
      [412, '100-continue'],
    ])
    const streamedPut = s3.proxy.requests.find((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/streamed`))
    expect(streamedPut?.headers['content-encoding']).toContain('aws-chunked')
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
