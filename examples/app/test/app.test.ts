import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { startApp, type RunningApp } from '../src/app.js'
import { seedDatabase } from '../src/seed.js'

let work: string
let repo: Repository
let app: RunningApp

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'strata-app-test-'))
  repo = await Repository.init(new LocalStore(join(work, 'store')))
  seedDatabase(join(work, 'seed.sqlite'))
  await repo.importDatabase(join(work, 'seed.sqlite'))
  app = await startApp({ repo, cacheDir: join(work, 'cache'), ttlMs: 60_000 })
})
afterAll(async () => {
  await app?.close()
  await repo?.close()
  await rm(work, { recursive: true, force: true })
})

async function call(method: string, path: string, body?: object): Promise<{ status: number; json: any }> {
  const res = await fetch(app.url + path, { method, ...(body ? { body: JSON.stringify(body) } : {}) })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null }
}
const sql = async (id: string, statement: string, params: unknown[] = []): Promise<any> => {
  const r = await call('POST', `/sessions/${id}/sql`, { sql: statement, params })
  expect(r.status, JSON.stringify(r.json)).toBe(200)
  return r.json
}
const count = async (id: string, where: string): Promise<number> => (await sql(id, `SELECT count(*) AS n FROM books WHERE ${where}`)).rows[0].n

async function storeKeys(): Promise<string[]> {
  const keys: string[] = []
  for await (const o of repo.store.list('')) keys.push(o.key)
  return keys.sort()
}

it('gives each session its own branch: isolated, main untouched, nothing left after delete + gc', async () => {
  const main = await repo.getBranch('main')
  const keysBefore = await storeKeys()

  const [a, b] = (await Promise.all([call('POST', '/sessions'), call('POST', '/sessions')])).map((r) => {
    expect(r.status).toBe(201)
    return r.json as { id: string; branch: string; expiresAt: string }
  })
  expect(a!.branch).toBe(`session/${a!.id}`)
  expect(Date.parse(a!.expiresAt) - Date.now()).toBeGreaterThan(50_000)
  expect((await repo.listBranches()).map((x) => x.name).sort()).toEqual(['main', a!.branch, b!.branch].sort())

  // Both sessions write at the same time, each many statements, each commit on its own branch.
  await Promise.all([
    (async () => {
      for (let i = 0; i < 5; i++) expect((await sql(a!.id, 'UPDATE books SET copies = 0 WHERE author = ?', [`Author ${i + 1}`])).changes).toBe(14)
    })(),
    (async () => {
      for (let i = 0; i < 5; i++) await sql(b!.id, 'DELETE FROM books WHERE year = ?', [1900 + i])
      await sql(b!.id, 'INSERT INTO books VALUES (5000, ?, ?, 2024, 1)', ['New', 'Someone'])
    })(),
  ])

  // Each sees its own changes and none of the other's.
  expect(await count(a!.id, 'copies = 0')).toBe(5 * 14)
  expect(await count(a!.id, 'year < 1905')).toBe(80)
  expect(await count(b!.id, 'copies = 0')).toBe(0)
  expect(await count(b!.id, 'year < 1905')).toBe(0)
  expect(await count(b!.id, 'id = 5000')).toBe(1)

  // The export is the session's committed database.
  const exported = await fetch(`${app.url}/sessions/${b!.id}/export`)
  expect(exported.headers.get('content-type')).toBe('application/vnd.sqlite3')
  const db = new Database(Buffer.from(await exported.arrayBuffer()))
  expect(db.prepare('SELECT count(*) FROM books').pluck().get()).toBe(2000 - 80 + 1)
  db.close()

  // A bad statement is a 400 and leaves the session usable.
  expect((await call('POST', `/sessions/${a!.id}/sql`, { sql: 'SELEC 1' })).status).toBe(400)
  expect(await count(a!.id, 'copies = 0')).toBe(70)

  // Main never moved, and reads as seeded.
  expect((await repo.getBranch('main')).head).toBe(main.head)
  const mainDb = new Database(Buffer.from(await repo.readDatabase('main')))
  expect(mainDb.prepare('SELECT count(*) FROM books WHERE copies = 0 OR year < 1905 OR id = 5000').pluck().get()).toBe(80)
  mainDb.close()

  // Deleting the sessions deletes their branches; gc then removes every object they wrote.
  for (const s of [a!, b!]) expect((await call('DELETE', `/sessions/${s.id}`)).status).toBe(204)
  expect((await call('POST', `/sessions/${a!.id}/sql`, { sql: 'SELECT 1' })).status).toBe(404)
  expect((await repo.listBranches()).map((x) => x.name)).toEqual(['main'])
  const gc = await repo.gc({ graceMs: 0 })
  expect(gc.freed.snapshots).toBeGreaterThanOrEqual(2)
  expect(await storeKeys()).toEqual(keysBefore)
})

it('starts with `npm start`, serves sessions and stops cleanly on SIGTERM', async () => {
  const here = dirname(fileURLToPath(import.meta.url))
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  delete env.STRATA_STORE
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)))
  })
  const created = await fetch(`${url}/sessions`, { method: 'POST' })
  expect(created.status).toBe(201)
  const { id } = (await created.json()) as { id: string }
  const res = await fetch(`${url}/sessions/${id}/sql`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(*) AS n FROM books' }) })
  expect(await res.json()).toEqual({ rows: [{ n: 2000 }] })
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
})
