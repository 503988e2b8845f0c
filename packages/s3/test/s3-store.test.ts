import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { isStrataError, type ObjectInfo, type ObjectStore } from '@strata/core'
import { S3Store } from '@strata/s3'
import { S3TestProxy, localS3TestTarget, localTarget, newS3TestLocation, s3TestEnv, type S3TestLocation } from '@strata/s3/testing'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

async function collect(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const keys: string[] = []
  for await (const o of it) keys.push(o.key)
  return keys
}

describe('S3Store', () => {
  let loc: S3TestLocation
  let store: S3Store
  beforeAll(async () => {
    loc = await newS3TestLocation('s3-store')
    store = loc.open('db')
  })
  afterAll(async () => {
    await store.close()
    await loc.cleanup()
  })

  test('url names the bucket and prefix; ranged get reports the whole size', async () => {
    expect(store.url).toBe(loc.url('db'))
    await store.put('seg/1', bytes('0123456789'))
    const part = await store.get('seg/1', { range: { offset: 3, length: 4 } })
    expect(text(part?.body)).toBe('3456')
    expect(part?.size).toBe(10)
    const tail = await store.get('seg/1', { range: { offset: 8, length: 100 } })
    expect(text(tail?.body)).toBe('89')
    const past = await store.get('seg/1', { range: { offset: 10, length: 5 } })
    expect(past).toMatchObject({ size: 10, version: part?.version })
    expect(past?.body.byteLength).toBe(0)
    expect(await store.get('seg/missing', { range: { offset: 0, length: 1 } })).toBeNull()
  })

  test('a conditional put that loses is a ConflictError carrying the key and condition', async () => {
    const { version } = await store.put('ref/main', bytes('v1'), { ifNoneMatch: '*' })
    await expect(store.put('ref/main', bytes('v2'), { ifNoneMatch: '*' })).rejects.toMatchObject({
      code: 'STRATA_CONFLICT',
      data: { key: 'ref/main', condition: 'if-none-match' },
    })
    const v2 = await store.put('ref/main', bytes('v2'), { ifMatch: version })
    await expect(store.put('ref/main', bytes('v3'), { ifMatch: version })).rejects.toMatchObject({
      code: 'STRATA_CONFLICT',
      data: { key: 'ref/main', condition: 'if-match', expected: version },
    })
    await expect(store.put('ref/absent', bytes('x'), { ifMatch: v2.version })).rejects.toMatchObject({ code: 'STRATA_CONFLICT' })
    expect(text((await store.get('ref/main'))?.body)).toBe('v2')
    expect(await store.head('ref/absent')).toBeNull()
  })

  test('lists more than 1000 keys across pages, in order, and deletes them in batches', async () => {
    const many = loc.open('many')
    try {
      const keys = Array.from({ length: 1501 }, (_, i) => `k/${String(i).padStart(5, '0')}`)
      await Promise.all(keys.map((k) => many.put(k, bytes(k))))
      expect(await collect(many.list(''))).toEqual(keys)
      expect(await collect(many.list('k/010'))).toEqual(keys.filter((k) => k.startsWith('k/010')))
      await many.delete([...keys, 'k/not-there'])
      expect(await collect(many.list(''))).toEqual([])
    } finally {
      await many.close()
    }
  })

  test('lists in byte order across small pages, with mixed case and punctuation', async () => {
    const mixed = loc.open('mixed', { listPageSize: 3 })
    try {
      const keys = ['a', 'A', 'a_b', 'a-b', 'a.c', 'b', 'B', 'Z', 'a=1', 'a~', 'a%41']
      for (const k of keys) await mixed.put(k, bytes(k))
      expect(await collect(mixed.list(''))).toEqual([...keys].sort())
    } finally {
      await mixed.close()
    }
  })

  test('errors name the operation, the bucket and the key, and keep the SDK error as cause', async () => {
    const missing = S3Store.fromUrl(`s3://strata-no-such-bucket-${Date.now()}/p`, { ...loc.target.options, maxAttempts: 1 })
    try {
      const err = await missing.get('seg/1').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isStrataError(err, 'STRATA_STORE_ERROR')).toBe(true)
      const e = err as Error & { data: Record<string, unknown>; cause: { name: string; $metadata: { httpStatusCode: number } } }
      expect(e.message).toContain(missing.url)
      expect(e.message).toContain('get seg/1')
      expect(e.data).toMatchObject({ operation: 'get', key: 'seg/1', store: missing.url, retryable: false })
      // Locally the bucket is missing; on a real provider the name may belong to someone else.
      if (loc.target.real) expect([403, 404, 301]).toContain(e.cause.$metadata.httpStatusCode)
      else expect(e.cause.name).toBe('NoSuchBucket')
    } finally {
      await missing.close()
    }
  })

  test('invalid keys and prefixes are refused before any request', async () => {
    await expect(store.get('../x')).rejects.toMatchObject({ code: 'STRATA_INVALID_KEY' })
    await expect(store.put('/abs', bytes('x'))).rejects.toMatchObject({ code: 'STRATA_INVALID_KEY' })
    await expect(store.delete(['ok', 'a//b'])).rejects.toMatchObject({ code: 'STRATA_INVALID_KEY' })
    await expect(collect(store.list('../'))).rejects.toMatchObject({ code: 'STRATA_INVALID_KEY' })
  })

  test('an aborted signal stops a request with AbortedError', async () => {
    const ac = new AbortController()
    ac.abort()
    await expect(store.get('seg/1', { signal: ac.signal })).rejects.toMatchObject({ code: 'STRATA_ABORTED' })
    await expect(store.put('seg/2', bytes('x'), { signal: ac.signal })).rejects.toMatchObject({ code: 'STRATA_ABORTED' })
    expect(await store.head('seg/2')).toBeNull()
  })
})

describe('S3Store confined to its prefix', () => {
  let loc: S3TestLocation
  const outside = ['prefix', 'prefix2/a', 'prefix2/b', 'prefixx', 'other/prefix/a', 'root-object', 'prefiy/z']
  let raw: ObjectStore
  beforeAll(async () => {
    loc = await newS3TestLocation('s3-prefix')
    raw = loc.open('')
  })
  afterAll(async () => {
    await raw.close?.()
    await loc.cleanup()
  })

  test('put, get, list and delete never touch objects beside the prefix', async () => {
    for (const k of outside) await raw.put(k, bytes(`outside:${k}`))
    const store = loc.open('prefix')
    try {
      expect(await collect(store.list(''))).toEqual([])
      expect(await store.get('a')).toBeNull()
      await store.put('a', bytes('inside'))
      await store.put('b/c', bytes('inside'))
      expect(await collect(store.list(''))).toEqual(['a', 'b/c'])
      await store.delete(['a', 'b/c'])
      expect(await collect(store.list(''))).toEqual([])
      for (const k of outside) expect(text((await raw.get(k))?.body)).toBe(`outside:${k}`)
      expect(await collect(raw.list(''))).toEqual([...outside].sort())
    } finally {
      await store.close()
    }
  })

  test('the whole-bucket store (prefix "") sees and deletes everything', async () => {
    if (loc.target.real) return // the real bucket is shared; its root is not ours
    const whole = S3Store.fromUrl(`s3://${loc.bucket}`, loc.target.options)
    try {
      expect(whole.url).toBe(`s3://${loc.bucket}`)
      expect(await collect(whole.list('prefix2/'))).toEqual(['prefix2/a', 'prefix2/b'])
      await whole.delete(['prefix2/a'])
      expect(await raw.head('prefix2/a')).toBeNull()
    } finally {
      await whole.close()
    }
  })
})

describe('S3Store configuration from the environment', () => {
  test('a spawned process reaches the test server through s3TestEnv', async () => {
    const local = localS3TestTarget()
    const loc = await newS3TestLocation('child-env', local)
    const store = loc.open('p')
    try {
      await store.put('k', bytes('from parent'))
      const script = `
        import { S3Store } from '@strata/s3'
        const store = S3Store.fromUrl(process.argv[1])
        const got = await store.get('k')
        await store.put('k2', new TextEncoder().encode('from child ' + new TextDecoder().decode(got.body)))
        await store.close()`
      const { spawnSync } = await import('node:child_process')
      const env: NodeJS.ProcessEnv = { ...process.env, ...s3TestEnv(local), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
      delete env['AWS_ENDPOINT_URL']
      const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script, store.url], {
        env,
        encoding: 'utf8',
      })
      expect(child.stderr).toBe('')
      expect(child.status).toBe(0)
      expect(text((await store.get('k2'))?.body)).toBe('from child from parent')
    } finally {
      await store.close()
      await loc.cleanup()
    }
  })

  test('AWS_ENDPOINT_URL_S3 is honoured when no endpoint option is given', async () => {
    const local = localS3TestTarget()
    const loc = await newS3TestLocation('env-endpoint', local)
    const saved = { s3: process.env['AWS_ENDPOINT_URL_S3'], any: process.env['AWS_ENDPOINT_URL'] }
    process.env['AWS_ENDPOINT_URL_S3'] = local.endpoint
    process.env['AWS_ENDPOINT_URL'] = 'http://127.0.0.1:9' // must lose to the S3-specific variable
    const { endpoint: _unused, ...options } = local.options
    const store = S3Store.fromUrl(loc.url('env'), options)
    try {
      expect(store.settings.endpoint).toBe(local.endpoint)
      expect(store.settings.forcePathStyle).toBe(true)
      await store.put('k', bytes('via env'))
      expect(text((await store.get('k'))?.body)).toBe('via env')
    } finally {
      if (saved.s3 === undefined) delete process.env['AWS_ENDPOINT_URL_S3']
      else process.env['AWS_ENDPOINT_URL_S3'] = saved.s3
      if (saved.any === undefined) delete process.env['AWS_ENDPOINT_URL']
      else process.env['AWS_ENDPOINT_URL'] = saved.any
      await store.close()
      await loc.cleanup()
    }
  })
})

describe('S3Store request options', () => {
  test('requestChecksumCalculation decides whether puts carry a flexible checksum; path-style puts the bucket in the path', async () => {
    const log = await S3TestProxy.start({ upstream: localS3TestTarget().endpoint, conditionalWrites: false })
    const loc = await newS3TestLocation('checksums', localTarget(log.endpoint))
    const supported = loc.open('s', { requestChecksumCalculation: 'WHEN_SUPPORTED' })
    const required = loc.open('r', { requestChecksumCalculation: 'WHEN_REQUIRED' })
    try {
      log.clearLog()
      await supported.put('k', bytes('with checksum'))
      await required.put('k', bytes('without checksum'))
      const [withSum, withoutSum] = log.requests
      expect(withSum?.url).toMatch(new RegExp(`^/${loc.bucket}/s/k`))
      expect(Object.keys(withSum?.headers ?? {}).some((h) => h.startsWith('x-amz-checksum-'))).toBe(true)
      expect(Object.keys(withoutSum?.headers ?? {}).some((h) => h.startsWith('x-amz-checksum-'))).toBe(false)
      expect(text((await required.get('k'))?.body)).toBe('without checksum')
    } finally {
      await supported.close()
      await required.close()
      await loc.cleanup()
      await log.close()
    }
  })
})
