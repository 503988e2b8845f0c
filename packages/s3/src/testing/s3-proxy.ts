import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { KeyedMutex } from './keyed-mutex.js'

/** A failure the proxy answers with instead of forwarding a request. */
export type InjectedFault =
  /** Answer with this HTTP status and S3 error code (e.g. 503 `SlowDown`, 500 `InternalError`) without forwarding. */
  | { status: number; code: string; message?: string }
  /** Close the client's connection without answering (the client sees ECONNRESET / socket hang up). */
  | { reset: true }
  /**
   * Forward the request (so it takes effect), then close the client's connection instead of
   * relaying the answer; `beforeDrop` runs in between (e.g. another client's write).
   */
  | { dropResponse: true; beforeDrop?: () => Promise<void> }
  /**
   * Decide on the request's headers alone, then close the connection while its body is still
   * arriving, as a provider may: a PUT whose `If-None-Match` / `If-Match` condition fails is first
   * answered 412 (404 for `If-Match` on a missing key), ignoring `Expect: 100-continue`; any other
   * request is cut without an answer and takes no effect. The client typically sees EPIPE or
   * ECONNRESET while sending, sometimes the answer.
   */
  | { closeEarly: true }

/** Which requests a fault applies to. */
export interface FaultMatch {
  /** HTTP method, e.g. `PUT`. Default: any. */
  method?: string
  /** Only requests whose path (after the bucket) contains this string. Default: any. */
  pathIncludes?: string
}

/** One request as the proxy saw it. */
export interface ProxiedRequest {
  method: string
  /** The request target (`/bucket/key?query`). */
  url: string
  /** The request headers as received (names lowercased). */
  headers: IncomingHttpHeaders
  /** The status the client got; undefined while in flight or when the connection was cut. */
  status?: number
  /** Bytes of request body the proxy read from the client (so far): what the upload cost. */
  bodyBytes: number
  /** True if the proxy answered `100 Continue` (the client sent `Expect: 100-continue` and the request was accepted). */
  continued: boolean
  /** Which fault answered it, if any. */
  fault?: InjectedFault
  /** `performance.now()` when the request arrived. */
  startedAt: number
  /** `performance.now()` when its answer was sent or its connection closed. */
  endedAt?: number
}

/** Options of {@link S3TestProxy.start}. */
export interface S3TestProxyOptions {
  /** The S3 server to forward to, `http://127.0.0.1:<port>`. */
  upstream: string
  /** Enforce `If-None-Match` / `If-Match` on writes (default true). A pure fault injector in front of an enforcing server turns it off. */
  conditionalWrites?: boolean
  /** Delay every request by this many milliseconds before handling it, like a remote store's round trip (default 0; see {@link S3TestProxy.latencyMs}). */
  latencyMs?: number
}

/**
 * An HTTP proxy for S3 path-style requests, listening on 127.0.0.1, that can enforce conditional
 * writes and inject faults.
 *
 * Why it exists: no S3 emulator on npm enforces `If-None-Match: *` or `If-Match: <etag>` on PUT —
 * they answer 200 and overwrite — while AWS S3, Cloudflare R2 and MinIO do, and Strata's refs rely
 * on exactly that compare-and-swap. So the proxy enforces both, atomically per key: every write to
 * a key (PUT, copy, DELETE, the keys of a DeleteObjects, completing a multipart upload) holds that
 * key's mutex from the condition check (a HEAD to the upstream server) until the upstream answered.
 * A lost condition is answered `412 PreconditionFailed`; `If-Match` on a missing key `404
 * NoSuchKey`, as S3 does. Everything else is forwarded unchanged, bodies streamed, headers kept
 * (chunked and aws-chunked bodies pass through byte for byte).
 *
 * What it does not prove: that a real provider's conditional writes are atomic. The proxy is one
 * process serialising its own clients; tests through it show that Strata uses the conditions
 * correctly and copes with every answer, not that the provider keeps its promise.
 *
 * `Expect: 100-continue` is honoured as S3 honours it: the condition is decided on the headers,
 * and only an accepted request gets `100 Continue` and has its body read; a rejected one is
 * answered at once (Node's HTTP server then closes the connection, since the unread body would
 * otherwise follow). Without `Expect`, a rejected request's body is read and discarded, and the
 * connection stays open.
 *
 * Faults (`injectFault`) answer matching requests with an error status, a reset connection, a
 * lost answer or an early answer-and-close, for retry tests; `requests` logs what the proxy saw
 * (including the body bytes it read), so tests can count attempts and uploaded bytes.
 */
export class S3TestProxy {
  /** `http://127.0.0.1:<port>`: use as the S3 endpoint, with path-style addressing. */
  readonly endpoint: string
  /** Every request seen since start (or the last `clearLog`), in arrival order. */
  readonly requests: ProxiedRequest[] = []
  /**
   * Milliseconds every request waits before it is handled, as over a network (requests in flight
   * overlap their waits). May be changed at any time, e.g. set after a store was filled quickly.
   */
  latencyMs = 0
  readonly #server: Server
  readonly #upstream: URL
  readonly #conditional: boolean
  readonly #agent = new Agent({ keepAlive: true })
  readonly #locks = new KeyedMutex()
  readonly #faults: Array<{ fault: InjectedFault; match: FaultMatch; remaining: number }> = []
  readonly #sockets = new Set<Socket>()
  readonly #listeners = new Set<(request: ProxiedRequest, event: 'arrived' | 'answered') => void>()

  private constructor(server: Server, upstream: URL, conditional: boolean) {
    this.#server = server
    this.#upstream = upstream
    this.#conditional = conditional
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  /** Start a proxy in front of `options.upstream` on 127.0.0.1 and an ephemeral port. */
  static async start(options: S3TestProxyOptions): Promise<S3TestProxy> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    const proxy = new S3TestProxy(server, new URL(options.upstream), options.conditionalWrites ?? true)
    proxy.latencyMs = options.latencyMs ?? 0
    server.on('connection', (socket) => {
      proxy.#sockets.add(socket)
      socket.on('close', () => proxy.#sockets.delete(socket))
    })
    server.on('request', (req, res) => void proxy.#handle(req, res, false))
    // Deciding before the body is sent lets a lost condition be answered without the upload.
    server.on('checkContinue', (req, res) => void proxy.#handle(req, res, true))
    return proxy
  }

  /** Answer the next `times` requests matching `match` with `fault` (checked in the order faults were added). */
  injectFault(fault: InjectedFault, options: FaultMatch & { times?: number } = {}): void {
    const { times = 1, ...match } = options
    this.#faults.push({ fault, match, remaining: times })
  }

  /**
   * Call `listener` when a request arrives (before it is decided or forwarded) and when its answer
   * has been sent: lets a test act at an exact point of a client's work, e.g. SIGKILL the client
   * while its upload is under way. Returns a function that removes the listener.
   */
  onRequest(listener: (request: ProxiedRequest, event: 'arrived' | 'answered') => void): () => void {
    this.#listeners.add(listener)
    return () => void this.#listeners.delete(listener)
  }

  /** Forget every fault not yet used. */
  clearFaults(): void {
    this.#faults.length = 0
  }

  /** Empty the request log. */
  clearLog(): void {
    this.requests.length = 0
  }

  /** How many keys are locked or waited for right now; 0 when the proxy is idle. */
  get lockedKeys(): number {
    return this.#locks.size
  }

  /** Stop listening and close every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const socket of this.#sockets) socket.destroy()
    this.#agent.destroy()
    await closed
  }

  async #handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      bodyBytes: 0,
      continued: false,
      startedAt: performance.now(),
    }
    this.requests.push(entry)
    res.on('finish', () => {
      entry.status = res.statusCode
      for (const listener of this.#listeners) listener(entry, 'answered')
    })
    res.on('close', () => {
      entry.endedAt = performance.now()
    })
    for (const listener of this.#listeners) listener(entry, 'arrived')
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs))
    const target = parseTarget(entry.url)
    const proceed = (): void => {
      if (expectContinue && !entry.continued) {
        entry.continued = true
        res.writeContinue()
      }
    }
    const discardBody = (): void => {
      req.on('data', (c: Buffer) => (entry.bodyBytes += c.length))
    }

    const fault = this.#takeFault(entry.method, target)
    if (fault !== undefined) entry.fault = fault
    if (fault !== undefined && 'reset' in fault) {
      req.socket.destroy()
      return
    }
    if (fault !== undefined && 'status' in fault) {
      discardBody()
      sendError(res, fault.status, fault.code, fault.message ?? 'Injected fault', entry.method === 'HEAD')
      return
    }
    if (fault !== undefined && 'closeEarly' in fault) {
      const failed = entry.method === 'PUT' && target?.key ? await this.#checkConditions(req, target) : undefined
      const cut = (): void => void req.socket.destroy()
      if (failed === undefined) return cut()
      res.shouldKeepAlive = false
      sendError(res, failed.status, failed.code, failed.message, false, cut)
      return
    }
    const dropResponse = fault !== undefined && 'dropResponse' in fault ? fault : undefined

    let release = (): void => {}
    try {
      const writes = this.#conditional ? writtenKeys(entry.method, target) : { keys: [], needsBody: false }
      let body: Buffer | undefined
      if (writes.needsBody && target !== undefined) {
        proceed()
        body = await readBody(req)
        entry.bodyBytes = body.length
        writes.keys = deleteObjectsKeys(body, req.headers['content-encoding']).map((k) => `${target.bucket}/${k}`)
      }
      release = await this.#locks.lock(writes.keys)
      if (this.#conditional && entry.method === 'PUT' && target?.key) {
        const failed = await this.#checkConditions(req, target)
        if (failed !== undefined) {
          release()
          // Without Expect the body is on its way: read and drop it, keeping the connection.
          if (!expectContinue) discardBody()
          sendError(res, failed.status, failed.code, failed.message, false)
          return
        }
      }
      proceed()
      await this.#forward(req, res, body, dropResponse, entry)
    } catch (err) {
      if (!res.headersSent) sendError(res, 502, 'InternalError', `proxy: ${(err as Error).message}`, entry.method === 'HEAD')
      else res.destroy()
    } finally {
      release()
    }
  }

  #takeFault(method: string, target: Target | undefined): InjectedFault | undefined {
    const index = this.#faults.findIndex(
      (f) =>
        f.remaining > 0 &&
        (f.match.method === undefined || f.match.method.toUpperCase() === method) &&
        (f.match.pathIncludes === undefined || (target?.key ?? '').includes(f.match.pathIncludes)),
    )
    const rule = this.#faults[index]
    if (rule === undefined) return undefined
    if (--rule.remaining === 0) this.#faults.splice(index, 1)
    return rule.fault
  }

  async #checkConditions(req: IncomingMessage, target: Target): Promise<{ status: number; code: string; message: string } | undefined> {
    const ifNoneMatch = header(req, 'if-none-match')
    const ifMatch = header(req, 'if-match')
    if (ifNoneMatch === undefined && ifMatch === undefined) return undefined
    const current = await this.#currentEtag(target.path)
    const failed = { status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold' }
    if (ifMatch !== undefined) {
      if (current === undefined) return { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' }
      if (!etagListMatches(ifMatch, current)) return failed
    }
    if (ifNoneMatch !== undefined && current !== undefined && etagListMatches(ifNoneMatch, current)) return failed
    return undefined
  }

  // The key's current ETag according to the upstream server, or undefined if there is no object.
  async #currentEtag(path: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const head = httpRequest(
        { host: this.#upstream.hostname, port: this.#upstream.port, method: 'HEAD', path, agent: this.#agent },
        (answer) => {
          answer.resume()
          if (answer.statusCode === 404) return resolve(undefined)
          const etag = answer.headers.etag
          if (answer.statusCode === 200 && etag !== undefined) return resolve(etag)
          reject(new Error(`HEAD ${path} answered ${answer.statusCode}`))
        },
      )
      head.on('error', reject)
      head.end()
    })
  }

  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | undefined,
    dropResponse: { beforeDrop?: () => Promise<void> } | undefined,
    entry: ProxiedRequest,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          host: this.#upstream.hostname,
          port: this.#upstream.port,
          method: req.method,
          path: req.url,
          headers: forwardedHeaders(req.rawHeaders),
          agent: this.#agent,
        },
        (answer) => {
          if (dropResponse) {
            answer.resume()
            answer.on('end', () => {
              void (dropResponse.beforeDrop?.() ?? Promise.resolve()).finally(() => {
                res.socket?.destroy()
                resolve()
              })
            })
            return
          }
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardedHeaders(answer.rawHeaders))
          answer.pipe(res)
          answer.on('end', resolve)
          answer.on('error', reject)
        },
      )
      upstream.on('error', reject)
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy()
      })
      if (body !== undefined) return void upstream.end(body)
      req.on('data', (c: Buffer) => (entry.bodyBytes += c.length))
      req.pipe(upstream)
    })
  }
}

interface Target {
  bucket: string
  /** The decoded object key, '' for bucket-level requests. */
  key: string
  /** The request path without the query, as sent (still URL-encoded). */
  path: string
  query: URLSearchParams
}

// Path-style only: `/bucket/key?query`.
function parseTarget(url: string): Target | undefined {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  const m = /^\/([^/]+)(?:\/(.*))?$/.exec(path)
  if (!m?.[1]) return undefined
  try {
    return { bucket: decodeURIComponent(m[1]), key: decodeURIComponent(m[2] ?? ''), path, query }
  } catch {
    return undefined
  }
}

// The keys a request writes (each becomes `bucket/key` in the mutex); DeleteObjects names them in its body.
function writtenKeys(method: string, target: Target | undefined): { keys: string[]; needsBody: boolean } {
  if (target === undefined) return { keys: [], needsBody: false }
  const one = { keys: [`${target.bucket}/${target.key}`], needsBody: false }
  if (target.key === '') {
    return { keys: [], needsBody: method === 'POST' && target.query.has('delete') }
  }
  if (method === 'PUT' && !target.query.has('partNumber')) return one
  if (method === 'DELETE' && !target.query.has('uploadId')) return one
  if (method === 'POST' && target.query.has('uploadId')) return one
  return { keys: [], needsBody: false }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function deleteObjectsKeys(body: Buffer, contentEncoding: string | undefined): string[] {
  const xml = (contentEncoding?.includes('aws-chunked') ? decodeAwsChunked(body) : body).toString('utf8')
  return [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => unescapeXml(m[1] ?? ''))
}

// aws-chunked: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` repeated, ending with a 0-size chunk and trailers.
function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at)
    if (eol < 0) break
    const size = parseInt(body.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16)
    if (!(size > 0)) break
    parts.push(body.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(parts)
}

function unescapeXml(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&')
}

function escapeXml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')
}

// `*`, or a comma-separated list of (quoted or bare) ETags.
function etagListMatches(list: string, current: string): boolean {
  const want = normalizeEtag(current)
  return list.split(',').some((item) => item.trim() === '*' || normalizeEtag(item) === want)
}

// Hop-by-hop headers belong to one connection; `expect` is answered by the proxy itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'expect', 'trailer'])

function forwardedHeaders(raw: readonly string[]): OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase()
    const value = raw[i + 1] ?? ''
    if (HOP_BY_HOP.has(name)) continue
    const existing = headers[name]
    headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return headers
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headOnly: boolean, then?: () => void): void {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message><RequestId>strata-test-proxy</RequestId></Error>`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': headOnly ? 0 : Buffer.byteLength(body) })
  res.end(headOnly ? undefined : body, then)
}
