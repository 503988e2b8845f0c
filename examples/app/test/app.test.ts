import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { SWEEPS_ENDED_PREFIX } from '@strata/core/engine'
import { startApp, type AppOptions, type RunningApp } from '../src/app.js'
import { OPERATIONS } from '../src/operations.js'
import { seedDatabase } from '../src/seed.js'

const ALICE = 'alice-0123456789abcdef'
const BOB = 'bob-fedcba9876543210'

let work: string
let repo: Repository
let app: RunningApp

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'strata-app-test-'))
  repo = await Repository.init(new LocalStore(join(work, 'store')))
  seedDatabase(join(work, 'seed.sqlite'))
  await repo.importDatabase(join(work, 'seed.sqlite'))
  app = await startApp({ repo, cacheDir: join(work, 'cache'), tokens: [ALICE, BOB], ttlMs: 60_000 })
})
afterAll(async () => {
  await app?.close()
  await repo?.close()
  await rm(work, { recursive: true, force: true })
})

interface Answer {
  status: number
  headers: Headers
  json: any
}

/** One request to `to` (default: the app), as `token` (default Alice; null sends none). */
async function call(method: string, path: string, opts: { token?: string | null; body?: unknown; to?: RunningApp } = {}): Promise<Answer> {
  const token = opts.token === undefined ? ALICE : opts.token
  const res = await fetch((opts.to ?? app).url + path, {
    method,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(opts.body === undefined ? {} : { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null }
}
const newSession = async (token = ALICE, to?: RunningApp): Promise<{ id: string; branch: string; expiresAt: string }> => {
  const r = await call('POST', '/sessions', { token, ...(to ? { to } : {}) })
  expect(r.status, JSON.stringify(r.json)).toBe(201)
  return r.json
}
const op = async (id: string, name: string, params: object = {}, token = ALICE): Promise<any> => {
  const r = await call('POST', `/sessions/${id}/ops/${name}`, { token, body: params })
  expect(r.status, JSON.stringify(r.json)).toBe(200)
  return r.json
}
const stock = async (id: string): Promise<{ books: number; outOfStock: number }> => (await op(id, 'stock')).rows[0]

async function storeKeys(): Promise<string[]> {
  const keys: string[] = []
  for await (const o of repo.store.list('')) keys.push(o.key)
  return keys.sort()
}

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

const branchNames = async (): Promise<string[]> => (await repo.listBranches()).map((b) => b.name).sort()

it('gives each session its own branch: isolated, main untouched, nothing left after delete + gc', async () => {
  const main = await repo.getBranch('main')
  const keysBefore = await storeKeys()

  const [a, b] = await Promise.all([newSession(), newSession()])
  expect(a!.branch).toBe(`session/${a!.id}`)
  expect(Date.parse(a!.expiresAt) - Date.now()).toBeGreaterThan(50_000)
  expect(await branchNames()).toEqual(['main', a!.branch, b!.branch].sort())

  // Both sessions write at the same time, each many operations, each commit on its own branch.
  await Promise.all([
    (async () => {
      for (let i = 0; i < 5; i++) expect((await op(a!.id, 'set-copies', { author: `Author ${i + 1}`, copies: 0 })).changes).toBe(14)
    })(),
    (async () => {
      for (let i = 0; i < 5; i++) expect((await op(b!.id, 'remove-year', { year: 1900 + i })).changes).toBe(16)
      expect(await op(b!.id, 'add-book', { title: 'New', author: 'Someone', year: 2024, copies: 1 })).toMatchObject({ changes: 1, pagesChanged: expect.any(Number) })
    })(),
  ])

  // Each sees its own changes and none of the other's.
  expect(await stock(a!.id)).toEqual({ books: 2000, outOfStock: 70 })
  expect(await stock(b!.id)).toEqual({ books: 2000 - 80 + 1, outOfStock: 0 })
  expect((await op(b!.id, 'books-by-author', { author: 'Someone' })).rows).toMatchObject([{ title: 'New', year: 2024, copies: 1 }])
  expect((await op(a!.id, 'books-by-author', { author: 'Someone' })).rows).toEqual([])

  // The export is the session's committed database.
  const exported = await fetch(`${app.url}/sessions/${b!.id}/export`, { headers: { authorization: `Bearer ${ALICE}` } })
  expect(exported.headers.get('content-type')).toBe('application/vnd.sqlite3')
  const db = new Database(Buffer.from(await exported.arrayBuffer()))
  expect(db.prepare('SELECT count(*) FROM books').pluck().get()).toBe(2000 - 80 + 1)
  db.close()

  // Bad parameters are a 400 and leave the session usable.
  for (const params of [{}, { author: 'Author 1' }, { author: 'Author 1', copies: '0' }, { author: 'Author 1', copies: 1.5 }, { author: 'Author 1', copies: 0, extra: 1 }]) {
    const r = await call('POST', `/sessions/${a!.id}/ops/set-copies`, { body: params })
    expect(r.status, JSON.stringify(params)).toBe(400)
    expect(r.json.code).toBe('bad_params')
  }
  for (const body of ['{', '[]', '"text"', 'null']) expect((await call('POST', `/sessions/${a!.id}/ops/stock`, { body })).json.code).toBe('bad_body')
  expect(await stock(a!.id)).toEqual({ books: 2000, outOfStock: 70 })

  // Main never moved, and reads as seeded.
  expect((await repo.getBranch('main')).head).toBe(main.head)
  const mainDb = new Database(Buffer.from(await repo.readDatabase('main')))
  expect(mainDb.prepare('SELECT count(*) FROM books WHERE copies = 0 OR year < 1905 OR author = ?').pluck().get('Someone')).toBe(80)
  mainDb.close()

  // Deleting the sessions deletes their branches; gc then removes every object they wrote.
  for (const s of [a!, b!]) expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  expect((await call('POST', `/sessions/${a!.id}/ops/stock`)).status).toBe(404)
  expect(await branchNames()).toEqual(['main'])
  const gc = await repo.gc({ graceMs: 0 })
  expect(gc.freed.snapshots).toBeGreaterThanOrEqual(2)
  // (gc leaves the record that its sweep ended, for ten minutes: see docs/format.md.)
  expect((await storeKeys()).filter((k) => !k.startsWith(SWEEPS_ENDED_PREFIX))).toEqual(keysBefore)
})

describe('no request reaches a file outside the session', () => {
  it("lists only reads and single-statement writes of the app's own table", () => {
    const db = new Database(join(work, 'seed.sqlite'), { readonly: true })
    const books = db.prepare("SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'books'").pluck().all()
    for (const [name, op] of Object.entries(OPERATIONS)) {
      const kind = /^(\w+) /.exec(op.sql)?.[1]
      expect(['SELECT', 'INSERT', 'UPDATE', 'DELETE'], name).toContain(kind)
      expect(db.prepare(op.sql).readonly, name).toBe(kind === 'SELECT')
      // The compiled program opens only the books table and its index, in the main database.
      const values = Object.fromEntries(Object.entries(op.params).map(([p, type]) => [p, type === 'text' ? 'x' : 1]))
      const program = db.prepare(`EXPLAIN ${op.sql}`).all(values) as { opcode: string; p2: number; p3: number }[]
      const opened = program.filter((i) => i.opcode === 'OpenRead' || i.opcode === 'OpenWrite')
      expect(opened.length, name).toBeGreaterThan(0)
      for (const i of opened) expect([i.p3, books.includes(i.p2)], `${name}: ${JSON.stringify(i)}`).toEqual([0, true])
    }
    db.close()
  })

  it('refuses SQL that would write, attach, load or re-journal files, in every place a client can put it', async () => {
    const attack = join(work, 'attack')
    await mkdir(attack)
    const s = await newSession()
    const statements = [
      `VACUUM INTO '${join(attack, 'stolen.db')}'`,
      `ATTACH DATABASE '${join(attack, 'attached.db')}' AS x`,
      `SELECT load_extension('${join(attack, 'evil')}')`,
      'PRAGMA journal_mode = DELETE',
      `PRAGMA journal_mode = WAL; VACUUM INTO '${join(attack, 'stolen2.db')}'`,
    ]
    const before = await filesUnder(work)
    for (const sql of statements) {
      const tries = [
        // The raw-SQL route is gone…
        ['POST', `/sessions/${s.id}/sql`, { sql }, 404],
        // …a statement is not an operation's name…
        ['POST', `/sessions/${s.id}/ops/${encodeURIComponent(sql)}`, {}, 404],
        // …and not a parameter of one.
        ['POST', `/sessions/${s.id}/ops/stock`, { sql }, 400],
        ['POST', `/sessions/${s.id}/ops/books-by-author`, { author: 'x', sql }, 400],
      ] as const
      for (const [method, path, body, status] of tries) {
        const r = await call(method, path, { body })
        expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(status)
      }
    }
    // Nothing was written anywhere: not in the attacker's directory, the store or the session's files.
    expect(await filesUnder(work)).toEqual(before)

    // A statement sent as a parameter's value is only data: stored and read back as text.
    for (const sql of statements) await op(s.id, 'add-book', { title: sql, author: 'Mallory', year: 2000, copies: 1 })
    expect((await op(s.id, 'books-by-author', { author: 'Mallory' })).rows.map((r: { title: string }) => r.title)).toEqual(statements)
    expect(await readdir(attack)).toEqual([])
    for (const f of ['stolen.db', 'attached.db', 'stolen2.db']) expect(existsSync(join(attack, f))).toBe(false)
    expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  })
})

describe('who may do what', () => {
  it('answers 401 without a valid bearer token, before anything else happens', async () => {
    const branches = await branchNames()
    const files = await filesUnder(work)
    for (const headers of [{} as Record<string, string>, { authorization: ALICE }, { authorization: `Basic ${ALICE}` }, { authorization: 'Bearer not-a-client-token-at-all' }, { authorization: `Bearer ${ALICE}x` }, { authorization: `Bearer ${ALICE} ${ALICE}` }]) {
      for (const [method, path] of [['POST', '/sessions'], ['GET', '/nowhere'], ['POST', '/sessions//sql']]) {
        const res = await fetch(app.url + path!, { method, headers })
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
        expect(await res.json()).toMatchObject({ code: 'unauthorized' })
      }
    }
    expect(await branchNames()).toEqual(branches)
    expect(await filesUnder(work)).toEqual(files)
  })

  it("shows a session only to the client that created it: another client's token finds nothing", async () => {
    const mine = await newSession(ALICE)
    await op(mine.id, 'set-copies', { author: 'Author 3', copies: 0 })
    const head = (await repo.getBranch(mine.branch)).head
    const files = await filesUnder(work)

    for (const [method, path, body] of [
      ['POST', `/sessions/${mine.id}/ops/stock`, {}],
      ['POST', `/sessions/${mine.id}/ops/set-copies`, { author: 'Author 4', copies: 0 }],
      ['GET', `/sessions/${mine.id}/export`, undefined],
      ['DELETE', `/sessions/${mine.id}`, undefined],
    ] as const) {
      const r = await call(method, path, { token: BOB, body })
      expect(r.status, `${method} ${path}`).toBe(404)
      expect(r.json.code).toBe('not_found')
    }
    // Bob's attempts changed nothing: Alice's branch, files and data are as she left them.
    expect((await repo.getBranch(mine.branch)).head).toBe(head)
    expect(await filesUnder(work)).toEqual(files)
    expect(await stock(mine.id)).toEqual({ books: 2000, outOfStock: 14 })

    // Bob's own session is his, and Alice cannot reach it either.
    const his = await newSession(BOB)
    expect((await op(his.id, 'stock', {}, BOB)).rows).toEqual([{ books: 2000, outOfStock: 0 }])
    expect((await call('POST', `/sessions/${his.id}/ops/stock`, { token: ALICE })).status).toBe(404)
    expect((await call('DELETE', `/sessions/${his.id}`, { token: BOB })).status).toBe(204)
    expect((await call('DELETE', `/sessions/${mine.id}`, { token: ALICE })).status).toBe(204)
  })

  it('refuses to start without usable tokens or with a TTL its timers cannot hold', async () => {
    for (const tokens of [[], ['short'], [ALICE, 'with a space 0123456789']]) {
      await expect(startApp({ repo, cacheDir: join(work, 'cache'), tokens })).rejects.toThrow(TypeError)
    }
    for (const ttlMs of [0, -1, Number.NaN, 30 * 24 * 3600_000]) {
      await expect(startApp({ repo, cacheDir: join(work, 'cache'), tokens: [ALICE], ttlMs })).rejects.toThrow(TypeError)
    }
  })
})

describe('routing', () => {
  it('answers 404 for unknown paths and empty ids, and creates nothing', async () => {
    const s = await newSession()
    const branches = await branchNames()
    for (const [method, path] of [
      ['POST', '/sessions//sql'],
      ['POST', '/sessions//ops/stock'],
      ['POST', '/sessions/'],
      ['DELETE', '/sessions/'],
      ['GET', '/sessions//export'],
      ['GET', '/'],
      ['POST', '/session'],
      ['POST', '/sessions/nope/ops/stock'],
      ['POST', `/sessions/${s.id}/sql`],
      ['POST', `/sessions/${s.id}/ops/`],
      ['POST', `/sessions/${s.id}/ops/drop-books`],
      ['POST', `/sessions/${s.id}/ops/toString`],
      ['POST', `/sessions/${s.id}/ops/__proto__`],
      ['POST', `/sessions/${s.id}/ops/stock/more`],
      ['GET', `/sessions/${s.id}/export/`],
      ['DELETE', `/sessions/${s.id}/`],
    ]) {
      const r = await call(method!, path!)
      expect(r.status, `${method} ${path}`).toBe(404)
    }
    expect(await branchNames()).toEqual(branches)
    expect(await stock(s.id)).toEqual({ books: 2000, outOfStock: 0 })
    expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  })

  it('answers 405 with Allow for a method a path does not take', async () => {
    const s = await newSession()
    const branches = await branchNames()
    for (const [method, path, allow] of [
      ['GET', '/sessions', 'POST'],
      ['DELETE', '/sessions', 'POST'],
      ['GET', `/sessions/${s.id}`, 'DELETE'],
      ['POST', `/sessions/${s.id}`, 'DELETE'],
      ['GET', `/sessions/${s.id}/ops/stock`, 'POST'],
      ['PUT', `/sessions/${s.id}/ops/set-copies`, 'POST'],
      ['POST', `/sessions/${s.id}/export`, 'GET'],
      ['DELETE', `/sessions/${s.id}/export`, 'GET'],
    ]) {
      const r = await call(method!, path!)
      expect(r.status, `${method} ${path}`).toBe(405)
      expect(r.headers.get('allow')).toBe(allow)
      expect(r.json.code).toBe('method_not_allowed')
    }
    expect(await branchNames()).toEqual(branches)
    expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  })
})

describe('limits', () => {
  it('answers 413 to a 10 MB body, sent whole or streamed, and stores none of it', async () => {
    const s = await newSession()
    const files = await filesUnder(work)
    const big = JSON.stringify({ title: 'x'.repeat(10 << 20), author: 'Big', year: 2000, copies: 1 })

    // With a Content-Length: refused before the body is read.
    const whole = await call('POST', `/sessions/${s.id}/ops/add-book`, { body: big })
    expect(whole.status).toBe(413)
    expect(whole.json.code).toBe('body_too_large')

    // Chunked, without a length: refused once the limit is passed.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${app.url}/sessions/${s.id}/ops/add-book`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}`, 'transfer-encoding': 'chunked' } }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }))
      })
      req.on('error', reject)
      Readable.from((function* () {
        for (let i = 0; i < big.length; i += 64 << 10) yield big.slice(i, i + (64 << 10))
      })()).pipe(req)
    })
    expect(streamed.status).toBe(413)
    expect(JSON.parse(streamed.body).code).toBe('body_too_large')

    expect(await filesUnder(work)).toEqual(files)
    expect((await op(s.id, 'books-by-author', { author: 'Big' })).rows).toEqual([])
    expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  })

  describe('of sessions and queues', () => {
    let small: RunningApp
    const start = (o: Partial<AppOptions>): Promise<RunningApp> => startApp({ repo, cacheDir: join(work, 'cache'), tokens: [ALICE, BOB], ...o })
    afterAll(async () => small?.close())

    it('answers 429 past the number of open sessions, over all clients, until one ends', async () => {
      small = await start({ maxSessions: 2 })
      const a = await newSession(ALICE, small)
      await newSession(BOB, small)
      const branches = await branchNames()
      for (const token of [ALICE, BOB]) {
        const r = await call('POST', '/sessions', { token, to: small })
        expect(r.status).toBe(429)
        expect(r.json.code).toBe('too_many_sessions')
      }
      expect(await branchNames()).toEqual(branches)
      expect((await call('DELETE', `/sessions/${a.id}`, { to: small })).status).toBe(204)
      await newSession(ALICE, small)
    })

    it('answers 429 to requests past the per-session queue, and runs exactly the ones it accepted', async () => {
      const queued = await start({ maxQueue: 2 })
      try {
        const s = await newSession(ALICE, queued)
        const add = (i: number): Promise<Answer> => call('POST', `/sessions/${s.id}/ops/add-book`, { to: queued, body: { title: `Queued ${i}`, author: 'Queue', year: 2000, copies: 1 } })
        const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => add(i)))
        const accepted = answers.filter((r) => r.status === 200).length
        const refused = answers.filter((r) => r.status === 429)
        expect(accepted + refused.length).toBe(12)
        // A request is refused only while two others are waiting or running, so at least two ran.
        expect(accepted).toBeGreaterThanOrEqual(2)
        expect(refused.length).toBeGreaterThan(0)
        for (const r of refused) expect(r.json.code).toBe('queue_full')
        const r = await call('POST', `/sessions/${s.id}/ops/books-by-author`, { to: queued, body: { author: 'Queue' } })
        expect(r.json.rows).toHaveLength(accepted)
      } finally {
        await queued.close()
      }
    })

    it('ends a session when its TTL runs out, which frees its place', async () => {
      const brief = await start({ maxSessions: 1, ttlMs: 300 })
      try {
        const s = await newSession(ALICE, brief)
        expect((await call('POST', '/sessions', { to: brief })).status).toBe(429)
        await expect.poll(async () => (await call('POST', `/sessions/${s.id}/ops/stock`, { to: brief })).status, { timeout: 10_000, interval: 100 }).toBe(404)
        // The session stops being served at once; its branch is deleted right after, asynchronously.
        await expect.poll(branchNames, { timeout: 10_000, interval: 100 }).not.toContain(s.branch)
        await newSession(ALICE, brief)
      } finally {
        await brief.close()
      }
    })
  })
})

it('starts with `npm start`, prints its token, serves sessions and stops cleanly on SIGTERM', async () => {
  const here = dirname(fileURLToPath(import.meta.url))
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  delete env.STRATA_STORE
  delete env.APP_TOKENS
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  const [url, token] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+) with token (\S+) /.exec(out)
      if (m) resolve([m[1]!, m[2]!])
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)))
  })
  expect((await fetch(`${url}/sessions`, { method: 'POST' })).status).toBe(401)
  const authorization = `Bearer ${token}`
  const created = await fetch(`${url}/sessions`, { method: 'POST', headers: { authorization } })
  expect(created.status).toBe(201)
  const { id } = (await created.json()) as { id: string }
  const res = await fetch(`${url}/sessions/${id}/ops/stock`, { method: 'POST', headers: { authorization } })
  expect(await res.json()).toEqual({ rows: [{ books: 2000, outOfStock: 0 }] })
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
})
