// A tiny HTTP API in which every session works on its own throwaway branch of one database.
// Sessions change their branch through the app's own operations (operations.ts); main — the
// database every session starts from — is never modified, and deleting a session leaves nothing
// behind once gc has run.
//
// Every request carries `Authorization: Bearer <token>`; a session belongs to the token that
// created it, and is not found (404) with any other.
//
//   POST   /sessions                  → 201 { id, branch, expiresAt }   a branch from main
//   POST   /sessions/:id/ops/:name    { ...params } → { rows } for a query, else
//                                     { changes, snapshot, pagesChanged } after committing
//   GET    /sessions/:id/export       → the session's database as a .sqlite file
//   DELETE /sessions/:id              → 204; the branch is deleted

import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Repository } from '@strata/core'
import { openBranch, type LiveBranch } from '@strata/sqlite'
import { findOperation, paramsProblem } from './operations.js'

/** Options of {@link startApp}. */
export interface AppOptions {
  /** The repository whose `main` branch sessions start from. */
  repo: Repository
  /** Where sessions' working database files go. */
  cacheDir: string
  /**
   * The bearer tokens of the clients allowed in, one per client (at least 16 characters each).
   * A client sees only the sessions it created.
   */
  tokens: readonly string[]
  /**
   * How long a session lives if nobody deletes it. Default 1 hour. The app ends it then; if the
   * app is gone by then, the branch's TTL lets gc remove it.
   */
  ttlMs?: number
  /** Port on 127.0.0.1; default 0 (any free port). */
  port?: number
  /** The largest request body accepted, in bytes (413 above). Default 16 KiB. */
  maxBodyBytes?: number
  /** How many sessions may be open at once, over all clients (429 above). Default 100. */
  maxSessions?: number
  /** How many requests may wait or run on one session at once (429 above). Default 8. */
  maxQueue?: number
}

/** A running app. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Stop the server and end every open session (their branches are deleted). */
  close(): Promise<void>
}

/** The shortest token {@link startApp} accepts. */
export const MIN_TOKEN_LENGTH = 16

/**
 * Throw a TypeError unless `tokens` are usable client tokens: at least one, each at least
 * {@link MIN_TOKEN_LENGTH} printable ASCII characters without spaces (what a bearer header carries).
 */
export function checkTokens(tokens: readonly string[]): void {
  if (tokens.length === 0) throw new TypeError('at least one client token is needed')
  for (const t of tokens) {
    if (t.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(t)) throw new TypeError(`a client token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`)
  }
}

interface Session {
  id: string
  branch: string
  /** The client that created the session (the digest of its token). */
  owner: string
  live: LiveBranch
  /** The session's requests, one at a time: a write and its commit must not interleave with another. */
  queue: Promise<unknown>
  /** Requests waiting in or running from {@link queue}. */
  queued: number
  expiry: NodeJS.Timeout
}

/** An error answered with its HTTP status and a stable `code` clients can test. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

const notFound = (): HttpError => new HttpError(404, 'not_found', 'not found')

/** What a route does for one method; `id` and `name` are the path's `:id` and `:name`. */
type Handler = (req: IncomingMessage, res: ServerResponse, ctx: { client: string; id: string; name: string }) => Promise<void>

/**
 * Start the API on 127.0.0.1. Each `POST /sessions` creates branch `session/<id>` from main with
 * a TTL and opens it as a live database; the session's operations run on that database and
 * every write is committed to the branch.
 */
export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const { repo, cacheDir } = opts
  const ttlMs = opts.ttlMs ?? 60 * 60 * 1000
  const maxBodyBytes = opts.maxBodyBytes ?? 16 * 1024
  const maxSessions = opts.maxSessions ?? 100
  const maxQueue = opts.maxQueue ?? 8
  checkTokens(opts.tokens)
  // A session's timer runs for ttlMs; Node's timers hold at most 2^31 - 1 ms (about 24 days).
  if (!(ttlMs > 0 && ttlMs <= 2 ** 31 - 1)) throw new TypeError('ttlMs must be a duration from 1 ms to 24 days')
  // Tokens are looked up by their digest, so the lookup's timing says nothing about a token's characters.
  const clients = new Set(opts.tokens.map(digest))
  const sessions = new Map<string, Session>()
  let opening = 0

  const authenticate = (req: IncomingMessage): string => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
    const client = m ? digest(m[1]!) : undefined
    if (client === undefined || !clients.has(client)) throw new HttpError(401, 'unauthorized', 'send Authorization: Bearer <token>', { 'www-authenticate': 'Bearer' })
    return client
  }

  /** The session `id` if `client` created it: another client's session is not found either. */
  const sessionOf = (client: string, id: string): Session => {
    const s = sessions.get(id)
    if (!s || s.owner !== client) throw notFound()
    return s
  }

  const endSession = async (s: Session): Promise<void> => {
    sessions.delete(s.id)
    clearTimeout(s.expiry)
    await s.queue
    await s.live.close({ uncommitted: 'discard' })
    await repo.deleteBranch(s.branch)
  }

  /** End a session nobody deleted when its TTL runs out, so it no longer counts against maxSessions. */
  const expire = async (s: Session): Promise<void> => {
    try {
      if (sessions.get(s.id) === s) await endSession(s)
    } catch (e) {
      console.error(`ending expired session ${s.id}:`, e)
    }
  }

  /** Run `fn` after the session's earlier requests; 429 when too many are waiting already. */
  const enqueue = <T>(s: Session, fn: () => Promise<T>): Promise<T> => {
    if (s.queued >= maxQueue) throw new HttpError(429, 'queue_full', `session ${s.id} already has ${maxQueue} requests in progress; retry when they are answered`)
    s.queued++
    const run = s.queue.then(fn, fn).finally(() => s.queued--)
    s.queue = run.catch(() => {})
    return run
  }

  const createSession: Handler = async (_req, res, { client }) => {
    if (sessions.size + opening >= maxSessions) throw new HttpError(429, 'too_many_sessions', `${maxSessions} sessions are open; delete one first`)
    opening++
    try {
      const id = randomBytes(8).toString('hex')
      const branch = `session/${id}`
      // O(1) whatever the database's size: a ref and a branch record.
      const { expiresAt } = await repo.createBranch(branch, { from: 'main', ttlMs })
      const live = await openBranch(repo, branch, { cacheDir }).catch(async (e: unknown) => {
        await repo.deleteBranch(branch)
        throw e
      })
      const s: Session = { id, branch, owner: client, live, queue: Promise.resolve(), queued: 0, expiry: setTimeout(() => void expire(s), ttlMs).unref() }
      sessions.set(id, s)
      send(res, 201, { id, branch, expiresAt })
    } finally {
      opening--
    }
  }

  const runOperation: Handler = async (req, res, { client, id, name }) => {
    const s = sessionOf(client, id)
    const op = findOperation(name)
    if (!op) throw new HttpError(404, 'unknown_operation', `no operation "${name}"`)
    const params = await readJson(req, maxBodyBytes)
    const problem = paramsProblem(op, params)
    if (problem) throw new HttpError(400, 'bad_params', problem)
    send(res, 200, await enqueue(s, async () => {
      const stmt = s.live.db.prepare(op.sql)
      if (stmt.reader) return { rows: stmt.all(params) }
      const { changes } = stmt.run(params)
      const commit = await s.live.commit({ message: name, author: `session ${s.id}` })
      return { changes, snapshot: commit.snapshot, pagesChanged: commit.pagesChanged }
    }))
  }

  const exportSession: Handler = async (_req, res, { client, id }) => {
    const s = sessionOf(client, id)
    // The branch's committed state, read from the store (every write is committed).
    const bytes = await enqueue(s, () => repo.readDatabase(s.branch))
    res.writeHead(200, { 'content-type': 'application/vnd.sqlite3', 'content-length': bytes.byteLength }).end(bytes)
  }

  const deleteSession: Handler = async (_req, res, { client, id }) => {
    await endSession(sessionOf(client, id))
    send(res, 204)
  }

  // Every path the API has, and the methods each allows; anything else is 404 (405 for a method).
  const routes = new Map<string, Partial<Record<string, Handler>>>([
    ['/sessions', { POST: createSession }],
    ['/sessions/:id', { DELETE: deleteSession }],
    ['/sessions/:id/ops/:name', { POST: runOperation }],
    ['/sessions/:id/export', { GET: exportSession }],
  ])

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const client = authenticate(req)
    const found = matchRoute(routes, new URL(req.url ?? '/', 'http://localhost').pathname)
    if (!found) throw notFound()
    const handler = found.handlers[req.method ?? '']
    if (!handler) throw new HttpError(405, 'method_not_allowed', `use ${Object.keys(found.handlers).join(', ')}`, { allow: Object.keys(found.handlers).join(', ') })
    await handler(req, res, { client, id: found.params.id ?? '', name: found.params.name ?? '' })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) return send(res, e.status, { error: e.message, code: e.code }, e.headers)
      // Anything else is the app's own failure: logged here, not explained to the client.
      console.error(`${req.method} ${req.url}:`, e)
      send(res, 500, { error: 'internal error', code: 'internal' })
    })
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())))
      server.closeIdleConnections()
      await closed
      await Promise.all([...sessions.values()].map(endSession))
    },
  }
}

/**
 * The route `path` matches, with the values of its `:placeholders`. Every segment must match:
 * an empty one (`/sessions//ops/x`, a trailing `/`) matches no placeholder.
 */
function matchRoute<T>(routes: Map<string, T>, path: string): { handlers: T; params: Record<string, string> } | undefined {
  const segments = path.split('/')
  for (const [pattern, handlers] of routes) {
    const parts = pattern.split('/')
    if (parts.length !== segments.length) continue
    const params: Record<string, string> = {}
    const fits = parts.every((p, i) => {
      const seg = segments[i]!
      if (!p.startsWith(':')) return p === seg
      params[p.slice(1)] = seg
      return seg !== ''
    })
    if (fits) return { handlers, params }
  }
  return undefined
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/**
 * The request's body as a JSON object (an empty body is `{}`). Past `limit` bytes it stops
 * reading and answers 413; that answer closes the connection, dropping the rest of the body.
 */
function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const tooLarge = new HttpError(413, 'body_too_large', `the body must be at most ${limit} bytes`, { connection: 'close' })
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (c: Buffer): void => {
      size += c.byteLength
      if (size <= limit) return void chunks.push(c)
      req.off('data', onData).off('end', onEnd).pause()
      reject(tooLarge)
    }
    const onEnd = (): void => {
      if (size === 0) return resolve({})
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        if (typeof body === 'object' && body !== null && !Array.isArray(body)) return resolve(body as Record<string, unknown>)
      } catch {
        // falls through to the error below
      }
      reject(new HttpError(400, 'bad_body', "the body must be a JSON object of the operation's parameters"))
    }
    req.on('data', onData).on('end', onEnd).on('error', reject)
  })
}

function send(res: ServerResponse, status: number, body?: object, headers: Record<string, string> = {}): void {
  if (body === undefined) return void res.writeHead(status, headers).end()
  res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body))
}
