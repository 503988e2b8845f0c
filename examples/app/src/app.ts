// A tiny HTTP API in which every session works on its own throwaway branch of one database.
// Sessions may write whatever they like; main — the database every session starts from — is
// never modified, and deleting a session leaves nothing behind once gc has run.
//
//   POST   /sessions                 → 201 { id, branch, expiresAt }   a branch from main
//   POST   /sessions/:id/sql         { sql, params? } → { rows } for a query, else
//                                     { changes, snapshot, pagesChanged } after committing
//   GET    /sessions/:id/export      → the session's database as a .sqlite file
//   DELETE /sessions/:id             → 204; the branch is deleted

import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Repository } from '@strata/core'
import { openBranch, type LiveBranch } from '@strata/sqlite'

/** Options of {@link startApp}. */
export interface AppOptions {
  /** The repository whose `main` branch sessions start from. */
  repo: Repository
  /** Where sessions' working database files go. */
  cacheDir: string
  /** How long a session's branch lives if nobody deletes it (gc removes it then). Default 1 hour. */
  ttlMs?: number
  /** Port on 127.0.0.1; default 0 (any free port). */
  port?: number
}

/** A running app. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Stop the server and end every open session (their branches are deleted). */
  close(): Promise<void>
}

interface Session {
  id: string
  branch: string
  live: LiveBranch
  /** The session's requests, one at a time: a write and its commit must not interleave with another. */
  queue: Promise<unknown>
}

/** An error with the HTTP status it answers with. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Start the API on 127.0.0.1. Each `POST /sessions` creates branch `session/<id>` from main with
 * a TTL and opens it as a live database; the session's SQL runs on that database and every write
 * is committed to the branch.
 */
export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const { repo, cacheDir } = opts
  const ttlMs = opts.ttlMs ?? 60 * 60 * 1000
  const sessions = new Map<string, Session>()

  const createSession = async (): Promise<Session> => {
    const id = randomBytes(4).toString('hex')
    const branch = `session/${id}`
    // O(1) whatever the database's size: a ref and a branch record. The TTL is the safety net for
    // sessions nobody deletes (a crashed app): gc removes expired branches.
    await repo.createBranch(branch, { from: 'main', ttlMs })
    const live = await openBranch(repo, branch, { cacheDir })
    const session = { id, branch, live, queue: Promise.resolve() }
    sessions.set(id, session)
    return session
  }

  const endSession = async (s: Session): Promise<void> => {
    sessions.delete(s.id)
    await s.queue
    await s.live.close({ uncommitted: 'discard' })
    await repo.deleteBranch(s.branch)
  }

  const runSql = async (s: Session, body: { sql?: unknown; params?: unknown }): Promise<object> => {
    if (typeof body.sql !== 'string') throw new HttpError(400, 'body must be {"sql": "...", "params": [...]}')
    const params = Array.isArray(body.params) ? body.params : []
    const stmt = s.live.db.prepare(body.sql)
    if (stmt.reader) return { rows: stmt.all(...params) }
    const { changes } = stmt.run(...params)
    const commit = await s.live.commit({ message: body.sql, author: `session ${s.id}` })
    return { changes, snapshot: commit.snapshot, pagesChanged: commit.pagesChanged }
  }

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [, first, id, action] = (req.url ?? '/').split('?')[0]!.split('/')
    if (first !== 'sessions') throw new HttpError(404, 'not found')
    if (id === undefined || id === '') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST /sessions')
      const s = await createSession()
      const { expiresAt } = await repo.getBranch(s.branch)
      return send(res, 201, { id: s.id, branch: s.branch, expiresAt })
    }
    const s = sessions.get(id)
    if (!s) throw new HttpError(404, `no session ${id}`)
    if (req.method === 'DELETE' && action === undefined) {
      await endSession(s)
      return send(res, 204)
    }
    if (req.method === 'POST' && action === 'sql') {
      const body = await readJson(req)
      return send(res, 200, await enqueue(s, () => runSql(s, body)))
    }
    if (req.method === 'GET' && action === 'export') {
      // The branch's committed state, read from the store (every write above is committed).
      const bytes = await enqueue(s, () => repo.readDatabase(s.branch))
      res.writeHead(200, { 'content-type': 'application/vnd.sqlite3', 'content-length': bytes.byteLength })
      return void res.end(bytes)
    }
    throw new HttpError(404, 'not found')
  }

  const server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) return send(res, e.status, { error: e.message })
      // A bad statement is the client's mistake; anything else is ours.
      if (e instanceof Database.SqliteError) return send(res, 400, { error: e.message, code: e.code })
      send(res, 500, { error: e instanceof Error ? e.message : String(e) })
    })
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())))
      await Promise.all([...sessions.values()].map(endSession))
    },
  }
}

/** Run `fn` after the session's earlier requests. */
function enqueue<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  const run = s.queue.then(fn, fn)
  s.queue = run.catch(() => {})
  return run
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  } catch {
    // falls through to the error below
  }
  throw new HttpError(400, 'the body must be a JSON object')
}

function send(res: ServerResponse, status: number, body?: object): void {
  if (body === undefined) return void res.writeHead(status).end()
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
