/** How an S3 store retries transient failures. */
export interface RetryPolicy {
  /** Total attempts per request, the first included. `1` disables retries. */
  maxAttempts: number
  /** The backoff before retry n (1-based) is drawn uniformly from `[0, min(maxDelayMs, baseDelayMs · 2^(n-1))]`. */
  baseDelayMs: number
  /** Upper bound of any single backoff. */
  maxDelayMs: number
}

// Error names S3 and S3-compatible providers use for transient conditions, whatever the status.
const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestTimeout', // S3 answers 400 RequestTimeout when it gave up waiting for a slow upload
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError', // the SDK's socket and connection timeouts
])

// Node socket errors that mean the request may not have reached the server, or its answer was lost.
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
])

const RETRY_LATER = Symbol('strata.retryLater')

/** An error that {@link isRetryable} accepts: an outcome that a later attempt may turn out differently. */
export function retryLater(message: string, cause: unknown): Error {
  return Object.assign(new Error(message, { cause }), { [RETRY_LATER]: true })
}

/** The HTTP status of an SDK error, if the request got an answer. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata
  const status = meta?.httpStatusCode ?? (err as { $response?: { statusCode?: unknown } }).$response?.statusCode
  return typeof status === 'number' ? status : undefined
}

/** The provider's error code (`NoSuchKey`, `SlowDown`…) or the JavaScript error name. */
export function errorNameOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { Code?: unknown; name?: unknown }
  if (typeof e.Code === 'string') return e.Code
  return typeof e.name === 'string' ? e.name : undefined
}

/**
 * True if a failed request may succeed when sent again: throttling (429, 503 SlowDown), any
 * other 5xx, request timeouts, and network errors. Never for other 4xx answers — in particular
 * 412 and 409 (a lost condition) and 404 are answers, not failures.
 */
export function isRetryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  if (RETRY_LATER in err) return true
  const name = errorNameOf(err)
  if (name === 'AbortError') return false
  const status = httpStatusOf(err)
  if (status !== undefined) {
    if (status >= 500 || status === 429 || status === 408) return true
    // A 4xx is final, except S3's 400 RequestTimeout.
    if (status >= 400) return name === 'RequestTimeout'
  }
  if (name !== undefined && RETRYABLE_NAMES.has(name)) return true
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true
  const cause = (err as { cause?: unknown }).cause
  return cause !== undefined && cause !== err && isRetryable(cause)
}

/** The backoff before retry `retry` (1-based): full jitter over an exponentially growing window. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const window = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1))
  return Math.floor(random() * window)
}

/** Resolve after `ms`, or reject with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
