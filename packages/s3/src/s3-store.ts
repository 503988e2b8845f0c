import { createHash } from 'node:crypto'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import pLimit, { type LimitFunction } from 'p-limit'
import {
  AbortedError,
  ConflictError,
  InvalidArgumentError,
  StoreError,
  isStrataError,
  isValidKey,
  validateKey,
  validatePrefix,
  validatePutOptions,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '@strata/core'
import { formatS3Url, parseS3Url } from './s3-url.js'
import { backoffDelay, errorNameOf, httpStatusOf, isRetryable, retryLater, sleep, type RetryPolicy } from './retry.js'

/** Which requests the SDK adds (or validates) flexible checksums on. */
export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'

/**
 * How to reach the bucket. Every field is optional: unset fields come from the standard AWS
 * environment and shared config files (`AWS_REGION`, `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`…,
 * `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `~/.aws/config`), as every AWS tool does.
 */
export interface S3StoreOptions {
  /** The signing region. Default: the SDK's chain (`AWS_REGION`, the profile's `region`). R2 wants `auto`; MinIO-style servers usually `us-east-1`. */
  region?: string
  /** A custom endpoint (`https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:9000`). Default: `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then the profile's `endpoint_url`, then AWS. */
  endpoint?: string
  /** Credentials or a credential provider. Default: the SDK's chain (environment, profile, SSO, container, instance metadata). */
  credentials?: S3ClientConfig['credentials']
  /** The shared-config profile to read. Default: `AWS_PROFILE`, then `default`. */
  profile?: string
  /** Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`. Default: true when a custom endpoint is configured by option or environment, false for AWS. */
  forcePathStyle?: boolean
  /** When the SDK computes request checksums. Default: the SDK's (`WHEN_SUPPORTED`, or `AWS_REQUEST_CHECKSUM_CALCULATION`). Some providers reject the newer checksum headers: use `WHEN_REQUIRED`. */
  requestChecksumCalculation?: ChecksumMode
  /** When the SDK validates response checksums. Default: the SDK's (`WHEN_SUPPORTED`, or `AWS_RESPONSE_CHECKSUM_VALIDATION`). */
  responseChecksumValidation?: ChecksumMode
  /**
   * Requests in flight at once, across all operations of this store. Default 64: what the engine
   * reads at once in whole-store passes (small objects: refs, records, manifests); bulk page
   * transfers stay bounded by the repository's own `concurrency` (default 8). Some providers accept
   * only a few parallel uploads: lower it there.
   */
  concurrency?: number
  /** Attempts per request, the first included; `1` disables retries. Default 5. */
  maxAttempts?: number
  /** Base of the exponential backoff between attempts. Default 100 ms. */
  retryBaseDelayMs?: number
  /** Cap of any single backoff. Default 5000 ms. */
  retryMaxDelayMs?: number
  /** Keys per ListObjectsV2 page, 1–1000. Default 1000 (S3's maximum). */
  listPageSize?: number
  /** A request whose socket stays idle this long fails (and is retried). Default 60 000 ms. */
  requestTimeoutMs?: number
  /** Connecting may take this long before the attempt fails (and is retried). Default 10 000 ms. */
  connectionTimeoutMs?: number
}

/** Where the store lives plus how to reach it. */
export interface S3StoreConfig extends S3StoreOptions {
  /** The bucket. */
  bucket: string
  /** Every object of the store lives under `prefix/`. `''` (the default) is the whole bucket. */
  prefix?: string
}

/** The settings a store ended up with after options, environment and defaults were applied. */
export interface ResolvedS3Settings {
  bucket: string
  prefix: string
  /** The custom endpoint in use, or undefined for AWS (or a profile's `endpoint_url`, which the SDK reads itself). */
  endpoint: string | undefined
  forcePathStyle: boolean
  concurrency: number
  retry: RetryPolicy
  listPageSize: number
}

const DEFAULT_CONCURRENCY = 64
const MAX_DELETE_BATCH = 1000
const EMPTY = new Uint8Array(0)

// Per-key answers to DeleteObjects that mean "try that key again".
const RETRYABLE_DELETE_CODES = new Set(['InternalError', 'SlowDown', 'ServiceUnavailable', 'RequestTimeout', 'OperationAborted'])

/**
 * An `ObjectStore` over any S3-compatible bucket (AWS S3, Cloudflare R2, MinIO-style servers),
 * confined to one key prefix.
 *
 * - Keys are validated and joined to the prefix; `list` strips it again and never returns
 *   objects outside `prefix/` (nor objects whose relative key is not a valid store key). No
 *   request ever names a key outside the prefix.
 * - `version` is the object's ETag, passed back as `If-Match`. S3 ETags of single-part uploads are
 *   content hashes: rewriting identical bytes keeps the version.
 * - Conditional puts use `If-None-Match: *` and `If-Match`; a 412, a 409
 *   `ConditionalRequestConflict` or a 404 on `If-Match` becomes `ConflictError`. A create-only put
 *   is idempotent: when the bucket already holds exactly our bytes (found after a 412, a 409 or a
 *   cut connection) it succeeds; other bytes are a `ConflictError`.
 * - Requests run through one `p-limit` queue (`concurrency`); throttling, 5xx and network errors
 *   are retried with exponential backoff and full jitter (the SDK's own retries are off, so
 *   `maxAttempts` is the whole story). A conditional put whose earlier attempt may have landed is
 *   checked by reading the object back: finding our own bytes counts as success.
 * - Failures surface as `StoreError` naming the operation, the store URL (bucket and prefix) and
 *   the key, with the SDK error as `cause`; an aborted signal as `AbortedError`.
 */
export class S3Store implements ObjectStore {
  /** `s3://bucket/prefix` (or `s3://bucket` for the whole bucket). */
  readonly url: string
  readonly #bucket: string
  readonly #root: string
  readonly #client: S3Client
  readonly #limit: LimitFunction
  readonly #settings: ResolvedS3Settings
  readonly #config: S3StoreConfig

  constructor(config: S3StoreConfig) {
    this.#config = { ...config }
    const prefix = (config.prefix ?? '').replace(/\/+$/, '')
    const location = parseS3Url(formatS3Url({ bucket: config.bucket, prefix }))
    this.#bucket = location.bucket
    this.#root = location.prefix === '' ? '' : `${location.prefix}/`
    this.url = formatS3Url(location)

    const concurrency = positiveInt('concurrency', config.concurrency ?? DEFAULT_CONCURRENCY)
    const retry: RetryPolicy = {
      maxAttempts: positiveInt('maxAttempts', config.maxAttempts ?? 5),
      baseDelayMs: nonNegative('retryBaseDelayMs', config.retryBaseDelayMs ?? 100),
      maxDelayMs: nonNegative('retryMaxDelayMs', config.retryMaxDelayMs ?? 5000),
    }
    const listPageSize = positiveInt('listPageSize', config.listPageSize ?? 1000)
    if (listPageSize > 1000) throw new InvalidArgumentError({ argument: 'listPageSize', reason: 'at most 1000' })
    const endpoint = config.endpoint ?? endpointFromEnv(process.env)
    const forcePathStyle = config.forcePathStyle ?? endpoint !== undefined
    this.#settings = { bucket: location.bucket, prefix: location.prefix, endpoint, forcePathStyle, concurrency, retry, listPageSize }

    const clientConfig: S3ClientConfig = {
      forcePathStyle,
      // Retries are ours (see #call), so that one policy covers every request and tests can count attempts.
      maxAttempts: 1,
      // With our own agents the SDK sends a body at once, without waiting for `100 Continue`; announcing
      // `Expect: 100-continue` anyway only invites a server to answer early and close mid-body (EPIPE).
      expectContinueHeader: false,
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: concurrency }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: concurrency }),
        requestTimeout: config.requestTimeoutMs ?? 60_000,
        connectionTimeout: config.connectionTimeoutMs ?? 10_000,
      },
    }
    if (endpoint !== undefined) clientConfig.endpoint = endpoint
    if (config.region !== undefined) clientConfig.region = config.region
    if (config.credentials !== undefined) clientConfig.credentials = config.credentials
    if (config.profile !== undefined) clientConfig.profile = config.profile
    if (config.requestChecksumCalculation !== undefined) clientConfig.requestChecksumCalculation = config.requestChecksumCalculation
    if (config.responseChecksumValidation !== undefined) clientConfig.responseChecksumValidation = config.responseChecksumValidation
    this.#client = new S3Client(clientConfig)
    this.#limit = pLimit(concurrency)
  }

  /**
   * Open the store named by `s3://bucket[/prefix]`; `options` override the AWS environment.
   * Throws `InvalidArgumentError` for a malformed URL. Opens no connection.
   */
  static fromUrl(url: string, options: S3StoreOptions = {}): S3Store {
    const { bucket, prefix } = parseS3Url(url)
    return new S3Store({ ...options, bucket, prefix })
  }

  /**
   * How another thread opens an equivalent store: `(await import(module))[export](...args)`.
   * The lazy-branch fetcher of `@strata/sqlite` runs in a worker thread and opens its own
   * instance this way. Null when the configuration cannot cross threads (a credential provider
   * function: the other thread would need the same function).
   */
  threadRecipe(): { module: string; export: string; args: unknown[] } | null {
    if (typeof this.#config.credentials === 'function') return null
    // A sibling module (thread-opener.js), in this package's build or in the CLI's bundle alike.
    const here = new URL('./thread-opener.js', import.meta.url).href
    // From sources (tests) this module is TypeScript, which a plain worker cannot import.
    const module = here.includes('/src/') ? here.replace('/src/', '/dist/') : here
    return { module, export: 'openS3StoreInThread', args: [this.#config] }
  }

  /** Keys per ListObjectsV2 page (`listPageSize`, default 1000). */
  get listPageSize(): number {
    return this.#settings.listPageSize
  }

  /** The settings in effect (bucket, prefix, endpoint, addressing style, concurrency, retry policy). */
  get settings(): Readonly<ResolvedS3Settings> {
    return this.#settings
  }

  /** The bytes at `key` (or a range of them) with their ETag and the object's full size, or null if there is no object. */
  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    validateKey(key)
    const range = opts.range
    if (range !== undefined) {
      if (!Number.isSafeInteger(range.offset) || range.offset < 0 || !Number.isSafeInteger(range.length) || range.length < 0) {
        throw new InvalidArgumentError({ argument: 'range', reason: `offset and length must be non-negative integers (got ${range.offset}, ${range.length})` })
      }
      // S3 has no empty range; a zero-length read only needs to know whether the object exists.
      if (range.length === 0) return this.#emptyRead(key, opts.signal)
    }
    const result = await this.#call('get', key, opts.signal, async () => {
      let res
      try {
        res = await this.#client.send(
          new GetObjectCommand({
            Bucket: this.#bucket,
            Key: this.#fullKey(key),
            Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
          }),
          { abortSignal: opts.signal },
        )
      } catch (err) {
        if (isMissingKey(err)) return null
        if (httpStatusOf(err) === 416) return 'past-end' as const
        throw err
      }
      const bytes = res.Body ? await res.Body.transformToByteArray() : EMPTY
      const version = res.ETag ?? ''
      if (range === undefined) return { body: bytes, version, size: bytes.byteLength }
      const total = totalFromContentRange(res.ContentRange)
      if (total !== undefined) return { body: bytes, version, size: total }
      // The server ignored the Range header and sent the whole object.
      return { body: bytes.subarray(range.offset, range.offset + range.length), version, size: bytes.byteLength }
    })
    return result === 'past-end' ? this.#emptyRead(key, opts.signal) : result
  }

  /** Size, ETag and last-modified time of the object at `key`, or null if there is none. */
  async head(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | null> {
    validateKey(key)
    return this.#call('head', key, opts.signal, async () => {
      try {
        const res = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#fullKey(key) }), {
          abortSignal: opts.signal,
        })
        return { key, size: res.ContentLength ?? 0, version: res.ETag ?? '', lastModified: res.LastModified ?? new Date(0) }
      } catch (err) {
        // HEAD answers carry no body, so a missing bucket looks like a missing key here.
        if (httpStatusOf(err) === 404 || isMissingKey(err)) return null
        throw err
      }
    })
  }

  /**
   * Write `body` at `key` in one PUT. `ifNoneMatch: '*'` creates only; `ifMatch` replaces only
   * that ETag. A lost condition throws `ConflictError` and writes nothing.
   *
   * A create-only put of an object the bucket already holds with exactly these bytes succeeds and
   * returns its ETag, whether the provider answered 412 or 409 `ConditionalRequestConflict`, or
   * cut the connection (a provider may answer a failed condition before the body is sent and
   * close the connection; the client then sees EPIPE or ECONNRESET, not the 412). Such outcomes
   * are resolved by asking what the bucket holds: a HEAD whose size and ETag (the MD5 of a plain
   * single-part object) match; a GET comparing the bytes only when the ETag is not an MD5.
   */
  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ version: string }> {
    validateKey(key)
    validatePutOptions(opts)
    if (opts.ifNoneMatch === '*') return this.#createOnly(key, body, opts.signal)
    const ifMatch = opts.ifMatch
    let attempt = 0
    return this.#call('put', key, opts.signal, async () => {
      attempt++
      try {
        return await this.#send(key, body, { IfMatch: ifMatch }, opts.signal)
      } catch (err) {
        if (ifMatch === undefined || !isLostCondition(err)) throw err
        // An earlier attempt may have landed before its answer was lost; then the object holds our bytes.
        if (attempt > 1) {
          const held = await this.#compareStored(key, body, opts.signal)
          if (held.state === 'same') return { version: held.version }
        }
        throw new ConflictError({ key, condition: 'if-match', expected: ifMatch })
      }
    })
  }

  // A create-only PUT whose every ambiguous outcome is settled by what the bucket holds.
  async #createOnly(key: string, body: Uint8Array, signal: AbortSignal | undefined): Promise<{ version: string }> {
    return this.#call('put', key, signal, async () => {
      try {
        return await this.#send(key, body, { IfNoneMatch: '*' }, signal)
      } catch (err) {
        const status = httpStatusOf(err)
        // 412: the key exists. 409: another conditional write of it is in flight. No status and
        // retryable: the connection failed, and the object may or may not have been written.
        const ambiguous = status === 412 || status === 409 || (status === undefined && isRetryable(err))
        if (!ambiguous || signal?.aborted) throw err
        const held = await this.#compareStored(key, body, signal)
        if (held.state === 'same') return { version: held.version }
        if (held.state === 'different') throw new ConflictError({ key, condition: 'if-none-match' })
        // Nothing there (yet, or any more): send it again after the backoff.
        throw status === undefined ? err : retryLater(`PUT answered ${status} but ${key} is not there`, err)
      }
    })
  }

  async #send(key: string, body: Uint8Array, condition: { IfNoneMatch?: string; IfMatch?: string | undefined }, signal: AbortSignal | undefined): Promise<{ version: string }> {
    const res = await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#fullKey(key),
        Body: body,
        ContentLength: body.byteLength,
        ContentType: 'application/octet-stream',
        ...condition,
      }),
      { abortSignal: signal },
    )
    if (res.ETag === undefined) throw new Error('the PUT answer carries no ETag')
    return { version: res.ETag }
  }

  /**
   * Every object under this store's prefix whose key starts with `prefix` (and sorts after
   * `startAfter`, sent as ListObjectsV2's `StartAfter`), in ascending key order (S3 lists in UTF-8
   * byte order), fetched one ListObjectsV2 page at a time, each when the iteration reaches it.
   */
  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix)
    const full = this.#root + prefix
    // Only the first page names it: a continuation token carries on from where that page ended.
    const startAfter = opts.startAfter === undefined || opts.startAfter === '' ? undefined : this.#root + opts.startAfter
    let token: string | undefined
    let first = true
    do {
      const page = await this.#call('list', `${prefix}*`, opts.signal, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: full === '' ? undefined : full,
            ContinuationToken: token,
            StartAfter: first ? startAfter : undefined,
            MaxKeys: this.#settings.listPageSize,
          }),
          { abortSignal: opts.signal },
        ),
      )
      for (const object of page.Contents ?? []) {
        const rel = object.Key !== undefined && object.Key.startsWith(full) ? object.Key.slice(this.#root.length) : undefined
        if (rel === undefined || !isValidKey(rel)) continue
        yield { key: rel, size: object.Size ?? 0, version: object.ETag ?? '', lastModified: object.LastModified ?? new Date(0) }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
      first = false
    } while (token !== undefined)
  }

  /**
   * Delete every key in `keys` with DeleteObjects, up to 1000 keys per request, batches in
   * parallel. Missing keys are ignored; per-key errors the provider reports are retried when
   * transient and otherwise thrown as `StoreError` naming the key. Not atomic across keys.
   */
  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) validateKey(key)
    const unique = [...new Set(keys)]
    const batches: string[][] = []
    for (let i = 0; i < unique.length; i += MAX_DELETE_BATCH) batches.push(unique.slice(i, i + MAX_DELETE_BATCH))
    await Promise.all(batches.map((batch) => this.#deleteBatch(batch)))
  }

  /** Close the HTTP connections. The store must not be used afterwards. */
  async close(): Promise<void> {
    this.#client.destroy()
  }

  #fullKey(key: string): string {
    return this.#root + key
  }

  async #deleteBatch(batch: readonly string[]): Promise<void> {
    let pending = batch
    await this.#call('delete', batch.length === 1 ? (batch[0] ?? '') : `${batch[0]} … (${batch.length} keys)`, undefined, async () => {
      const res = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: pending.map((k) => ({ Key: this.#fullKey(k) })), Quiet: true },
        }),
      )
      const errors = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
      if (errors.length === 0) return
      const fatal = errors.find((e) => !RETRYABLE_DELETE_CODES.has(e.Code ?? ''))
      const first = fatal ?? errors[0]
      const rel = first?.Key?.startsWith(this.#root) ? first.Key.slice(this.#root.length) : (first?.Key ?? '?')
      const err = Object.assign(new Error(`${first?.Code ?? 'Error'} deleting ${rel}: ${first?.Message ?? 'no message'}`), {
        name: first?.Code ?? 'DeleteError',
      })
      if (fatal !== undefined) throw new StoreError({ operation: 'delete', key: rel, store: this.url, retryable: false }, { cause: err })
      pending = errors.flatMap((e) => (e.Key?.startsWith(this.#root) ? [e.Key.slice(this.#root.length)] : []))
      throw err
    })
  }

  // A zero-length read, or one starting at or past the end: no bytes, but the object's version and size.
  async #emptyRead(key: string, signal: AbortSignal | undefined): Promise<GetResult | null> {
    const info = await this.head(key, signal ? { signal } : {})
    return info === null ? null : { body: EMPTY, version: info.version, size: info.size }
  }

  /**
   * Whether the object at `key` holds exactly `body`, asked inside an attempt that already holds a
   * concurrency slot (so its requests must not queue again). One HEAD decides when the size
   * differs or the ETag is the body's MD5 (AWS documents this for single-part uploads stored in
   * plain text or with SSE-S3; MinIO and R2 do the same); otherwise (SSE-KMS, SSE-C, multipart)
   * a GET compares the bytes.
   */
  async #compareStored(
    key: string,
    body: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<{ state: 'same'; version: string } | { state: 'different' | 'absent' }> {
    let info
    try {
      info = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#fullKey(key) }), { abortSignal: signal })
    } catch (err) {
      if (httpStatusOf(err) === 404 || isMissingKey(err)) return { state: 'absent' }
      throw err
    }
    const version = info.ETag ?? ''
    if (info.ContentLength !== undefined && info.ContentLength !== body.byteLength) return { state: 'different' }
    if (unquoteEtag(version) === md5Hex(body)) return { state: 'same', version }
    let stored
    try {
      stored = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#fullKey(key) }), { abortSignal: signal })
    } catch (err) {
      if (isMissingKey(err)) return { state: 'absent' }
      throw err
    }
    const bytes = stored.Body ? await stored.Body.transformToByteArray() : EMPTY
    return equalBytes(bytes, body) ? { state: 'same', version: stored.ETag ?? version } : { state: 'different' }
  }

  /**
   * Run one request under the concurrency limit, retrying transient failures. Each attempt
   * takes its own slot, so a throttled request does not hold one while it backs off.
   */
  async #call<T>(operation: string, key: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const { retry } = this.#settings
    for (let n = 1; ; n++) {
      if (signal?.aborted) throw new AbortedError({ operation: `s3 ${operation} ${key}` })
      try {
        return await this.#limit(attempt)
      } catch (err) {
        if (signal?.aborted || errorNameOf(err) === 'AbortError') throw new AbortedError({ operation: `s3 ${operation} ${key}` })
        if (isStrataError(err)) throw err
        const retryable = isRetryable(err)
        if (!retryable || n >= retry.maxAttempts) {
          throw new StoreError({ operation, key, store: this.url, retryable }, { cause: describeSdkError(err) })
        }
        try {
          await sleep(backoffDelay(retry, n), signal)
        } catch {
          throw new AbortedError({ operation: `s3 ${operation} ${key}` })
        }
      }
    }
  }
}

/** `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true — the SDK's own precedence. */
export function endpointFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS']?.toLowerCase() === 'true') return undefined
  return nonEmpty(env['AWS_ENDPOINT_URL_S3']) ?? nonEmpty(env['AWS_ENDPOINT_URL'])
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}

function positiveInt(argument: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError({ argument, reason: `must be a positive integer (got ${n})` })
  return n
}

function nonNegative(argument: string, n: number): number {
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError({ argument, reason: `must be a non-negative number (got ${n})` })
  return n
}

function isMissingKey(err: unknown): boolean {
  const name = errorNameOf(err)
  return name === 'NoSuchKey' || (name === 'NotFound' && httpStatusOf(err) === 404)
}

// An If-Match put lost: 412 everywhere; AWS's 409 ConditionalRequestConflict when a concurrent
// conditional write is in flight; 404 NoSuchKey when the key does not exist.
function isLostCondition(err: unknown): boolean {
  const status = httpStatusOf(err)
  return status === 412 || status === 409 || (status === 404 && isMissingKey(err))
}

function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const m = contentRange === undefined ? null : /\/(\d+)\s*$/.exec(contentRange)
  return m?.[1] === undefined ? undefined : Number(m[1])
}

function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1').toLowerCase()
}

function md5Hex(body: Uint8Array): string | undefined {
  try {
    return createHash('md5').update(body).digest('hex')
  } catch {
    return undefined // no MD5 in this runtime (FIPS mode): compare the bytes instead
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

// SDK errors for answers without a body (HEAD, some 5xx) have messages like "UnknownError"; add the status.
function describeSdkError(err: unknown): unknown {
  if (!(err instanceof Error)) return err
  const status = httpStatusOf(err)
  if (status !== undefined && !err.message.includes(String(status))) {
    const name = errorNameOf(err)
    err.message = `${err.message || name || 'error'} (HTTP ${status}${name && name !== err.message ? ` ${name}` : ''})`
  }
  return err
}

/** Open an `S3Store` from a configuration another thread handed over (see `S3Store.threadRecipe`). */
export function openS3StoreInThread(config: S3StoreConfig): S3Store {
  return new S3Store(config)
}
