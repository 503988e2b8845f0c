import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isStrataError, type Repository } from '@strata/core'
import { graphForest, grouped, readBranchGraph, type GraphNode } from '../branch-graph.js'
import { jsonOf } from '../commands/diff.js'
import { toJson } from '../json.js'
import { pageHtml } from './page.js'

/** The only address `strata ui` listens on: the page is for the person at this machine. */
export const UI_HOST = '127.0.0.1'

/** A running `strata ui` server. */
export interface UiServer {
  /** The page's address, token included: `http://127.0.0.1:<port>/?token=<token>`. */
  url: string
  port: number
  /** The secret every request must carry (`?token=` or the `X-Strata-Token` header). */
  token: string
  /** Stop listening and close open connections. */
  close(): Promise<void>
}

/** Options of {@link startUiServer}. */
export interface UiServerOptions {
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number
  /** Root of the segment cache the diff's exports read through (as `strata diff`). */
  cacheDir?: string
  /** Sibling leaves above this many with one name stem are folded in the tree (default 8). */
  collapse?: number
}

/** A tree node as the page gets it: a branch, a root that is not one, or a folded group of leaves. */
type PageNode = { id: string; kind: GraphNode['kind']; label: string; children: PageNode[] } | { id: string; kind: 'group'; label: string; children: PageNode[] }

/**
 * Serve a read-only page about `repo` on 127.0.0.1: the branch tree with storage per branch, a
 * branch's history, and the diff of two snapshots at table and row level (`diff` of
 * `@strata/sqlite`). Every request must carry the random token (32 hex digits, made here) and a
 * `Host` of 127.0.0.1 or localhost with the server's port (a page on another site cannot reach it
 * through DNS rebinding); anything else is answered 403 and does nothing. Only GET and HEAD.
 */
export async function startUiServer(repo: Repository, opts: UiServerOptions = {}): Promise<UiServer> {
  const token = randomBytes(16).toString('hex')
  const tokenBytes = Buffer.from(token)
  let port = 0
  const server = createServer((req, res) => {
    // Errors of the API (an unknown branch, a bad snapshot id) are answers, not crashes.
    handle(req, res).catch((e: unknown) => {
      const { status, body } = errorAnswer(e)
      if (!res.headersSent) send(res, status, body)
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${UI_HOST}`)
    const host = req.headers.host ?? ''
    if (host !== `${UI_HOST}:${port}` && host !== `localhost:${port}`) return sendText(res, 403, 'forbidden: unexpected Host header\n')
    const given = Buffer.from(url.searchParams.get('token') ?? String(req.headers['x-strata-token'] ?? ''))
    if (given.length !== tokenBytes.length || !timingSafeEqual(given, tokenBytes)) {
      return sendText(res, 403, 'forbidden: open the address `strata ui` printed (it carries the token)\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'read-only: only GET\n', { Allow: 'GET, HEAD' })
    switch (url.pathname) {
      case '/': {
        const nonce = randomBytes(16).toString('base64')
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        })
        res.end(req.method === 'HEAD' ? undefined : pageHtml(nonce))
        return
      }
      case '/api/graph': {
        const graph = await readBranchGraph(repo)
        const collapse = opts.collapse ?? 8
        const toPage = (n: GraphNode): PageNode => ({
          id: n.id,
          kind: n.kind,
          label: n.label,
          children: grouped(n.children, collapse, new Set()).map((c) =>
            'stem' in c ? { id: `g:${n.id}/${c.stem}`, kind: 'group' as const, label: `${c.stem}* (${c.branches.length} branches)`, children: c.branches.map((b) => toPage({ id: `b:${b.name}`, kind: 'branch', label: b.name, branch: b, children: [] })) } : toPage(c),
          ),
        })
        return send(res, 200, { ...graph, roots: graphForest(graph).map(toPage) })
      }
      case '/api/log': {
        const branch = url.searchParams.get('branch') ?? ''
        return send(res, 200, { branch, entries: await repo.log(branch, { limit: 100 }) })
      }
      case '/api/diff': {
        const a = url.searchParams.get('a') ?? ''
        const b = url.searchParams.get('b') ?? ''
        const level = url.searchParams.get('level') === 'tables' ? 'tables' : 'rows'
        // Loaded on demand, as in `strata diff`: better-sqlite3 is a native module.
        const { diff } = await import('@strata/sqlite')
        const result = await diff(repo, a, b, { level, maxRows: 50, ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}) })
        return send(res, 200, jsonOf(result))
      }
      default:
        return send(res, 404, { error: { code: 'STRATA_NOT_FOUND', message: `no such page: ${url.pathname}` } })
    }
  }

  server.on('clientError', (_e, socket) => socket.destroy())

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, UI_HOST, () => resolve())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://${UI_HOST}:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const SECURITY_HEADERS = {
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...headers })
  res.end(text)
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8' })
  res.end(toJson(body, 0))
}

/** The HTTP status and body of an error raised while answering: 404 for what does not exist, 400 for bad input. */
function errorAnswer(e: unknown): { status: number; body: unknown } {
  if (isStrataError(e)) {
    const status = /NOT_FOUND$/.test(e.code) ? 404 : e.code === 'STRATA_INVALID_NAME' || e.code === 'STRATA_INVALID_ARGUMENT' ? 400 : 500
    return { status, body: { error: { code: e.code, message: e.message } } }
  }
  return { status: 500, body: { error: { code: 'STRATA_INTERNAL', message: e instanceof Error ? e.message : String(e) } } }
}
