import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { connect } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { LocalStore, Repository } from '@strata/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, useImportedStore } from './helpers.js'

// `strata ui`: the built CLI serves the page; real chromium (Debian's) loads it, a branch is
// clicked and its history and a row-level diff are checked. Plus the server's two promises:
// nothing is answered without the token, and nothing listens beyond 127.0.0.1.

const CHROMIUM = process.env.STRATA_CHROMIUM ?? '/usr/bin/chromium'
const s = useImportedStore('ui', 200)
let server: ChildProcess
let info: { url: string; host: string; port: number; token: string }

beforeAll(async () => {
  for (const args of [
    ['branch', 'create', 'feature/plans'],
    ['sql', 'feature/plans', "UPDATE users SET name = 'renamed ' || id WHERE id <= 3; INSERT INTO orders (user_id, total) VALUES (7, 700)", '-m', 'rename three users'],
    ['sql', 'feature/plans', 'DELETE FROM orders WHERE id = 5', '-m', 'drop order 5'],
    ['branch', 'create', 'scratch', '--ttl', '2h'],
    ['hold', 'main'],
  ]) {
    const r = await s.cli(...args)
    expect(r.code, r.stderr).toBe(0)
  }
  // A run of CI branches, made through the library (a process each would be slow): the page folds them.
  const repo = await Repository.open(await LocalStore.open(s.store))
  for (let i = 1; i <= 12; i++) await repo.createBranch(`ci-${i}`, { ttlMs: 2 * 3600_000 })
  await repo.close()
  server = spawn(process.execPath, [BIN, '--store', s.store, 'ui', '--json'], { env: { ...process.env, STRATA_CACHE_DIR: join(s.dir, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'] })
  info = await new Promise((resolve, reject) => {
    let out = ''
    server.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      try {
        resolve(JSON.parse(out) as typeof info)
      } catch {
        // Not the whole document yet.
      }
    })
    server.once('exit', (code) => reject(new Error(`strata ui exited ${code}`)))
  })
})
afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.kill('SIGINT')
    await exited
  }
})

/** One raw HTTP request to the server, with any Host header. */
function get(path: string, opts: { host?: string; method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: info.port, path, method: opts.method ?? 'GET', headers: { Host: opts.host ?? `127.0.0.1:${info.port}`, ...opts.headers } }, (res) => {
      let body = ''
      res.on('data', (b: Buffer) => (body += b.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Whether anything accepts a TCP connection at host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('strata ui: the server', () => {
  it('prints its address on 127.0.0.1 with a random token', () => {
    expect(info.host).toBe('127.0.0.1')
    expect(info.token).toMatch(/^[0-9a-f]{32}$/)
    expect(info.url).toBe(`http://127.0.0.1:${info.port}/?token=${info.token}`)
  })

  it('refuses every request without the right token, a foreign Host, or a method that writes', async () => {
    for (const path of ['/', '/api/graph', '/api/log?branch=main', '/api/diff?a=main&b=main']) {
      expect((await get(path)).status).toBe(403)
      expect((await get(`${path}${path.includes('?') ? '&' : '?'}token=${'0'.repeat(32)}`)).status).toBe(403)
    }
    const ok = await get(`/api/graph?token=${info.token}`)
    expect(ok.status).toBe(200)
    expect((await get('/api/graph', { headers: { 'X-Strata-Token': info.token } })).status).toBe(200)
    // DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 sends its own Host.
    expect((await get(`/api/graph?token=${info.token}`, { host: `evil.example:${info.port}` })).status).toBe(403)
    expect((await get(`/api/graph?token=${info.token}`, { method: 'POST' })).status).toBe(405)
    const missing = await get(`/api/log?branch=nope&token=${info.token}`)
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).error.code).toBe('STRATA_BRANCH_NOT_FOUND')
  })

  it('listens on 127.0.0.1 only', async () => {
    expect(await accepts('127.0.0.1', info.port)).toBe(true)
    // Another loopback address and every other interface of this machine: nothing listens there.
    const others = ['127.0.0.2', ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => !i.internal).map((i) => i.address))]
    for (const host of others) expect(await accepts(host, info.port), host).toBe(false)
    expect(await accepts('::1', info.port)).toBe(false)
  })
})

describe.skipIf(!existsSync(CHROMIUM))('strata ui: in chromium', () => {
  let context: BrowserContext
  let profile: string
  beforeAll(async () => {
    profile = await mkdtemp(join(tmpdir(), 'strata-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1360, height: 900 },
    })
  })
  afterAll(async () => {
    await context?.close()
    await rm(profile, { recursive: true, force: true })
  })

  it('loads the tree, shows a clicked branch with its history, and diffs two snapshots by table and row', async () => {
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())))
    await page.goto(info.url)
    const tree = page.locator('#tree')
    await tree.locator('button.branch[data-branch="feature/plans"]').waitFor()
    const ci = Array.from({ length: 12 }, (_, i) => `ci-${i + 1}`)
    expect(await tree.locator('button.branch').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-branch')))).toEqual(['main', ...ci, 'feature/plans', 'scratch'])
    // Twelve sibling CI branches are folded into one line, and unfold on a click.
    const group = tree.locator('details > summary', { hasText: 'ci-* (12 branches)' })
    expect(await group.count()).toBe(1)
    expect(await tree.locator('button.branch[data-branch="ci-12"]').isVisible()).toBe(false)
    await group.click()
    expect(await tree.locator('button.branch[data-branch="ci-12"]').isVisible()).toBe(true)
    await group.click()
    await expect.poll(() => tree.locator('button.branch[data-branch="main"] .badge.held').count()).toBe(1)
    expect(await tree.locator('button.branch[data-branch="scratch"] .badge.ttl').count()).toBe(1)
    expect(await page.locator('#store').textContent()).toContain('15 branches')

    await tree.locator('button.branch[data-branch="feature/plans"]').click()
    await page.locator('#history tbody tr').first().waitFor()
    expect(await page.locator('#detail h2').first().textContent()).toBe('feature/plans')
    const facts = await page.locator('#facts').innerText()
    expect(facts).toMatch(/stacks on\s+main@[0-9a-f]{12}/)
    expect(facts).toMatch(/chain\s+feature\/plans@[0-9a-f]{12} → main@[0-9a-f]{12}/)
    const messages = await page.locator('#history tbody tr td:nth-child(6)').allTextContents()
    expect(messages.slice(0, 2)).toEqual(['drop order 5', 'rename three users'])

    // A = the snapshot main was at (the branch's base), B = the head: both commits at once.
    await page.locator('#history tbody tr').nth(2).locator('input[name=a]').check()
    await page.locator('#compare').click()
    await page.locator('#diff-tables').waitFor({ timeout: 30_000 })
    expect(await page.locator('#diff-summary').textContent()).toMatch(/^pages: \d+ changed/)
    expect(await page.locator('#diff-tables tbody td:nth-child(2)').allTextContents()).toEqual(expect.arrayContaining(['users', 'orders']))
    const users = page.locator('table.diff-rows[data-table="users"]')
    expect(await users.locator('tr.changed').count()).toBe(3)
    expect(await users.locator('tr.changed').first().innerText()).toContain('"renamed 1"')
    const orders = page.locator('table.diff-rows[data-table="orders"]')
    expect(await orders.locator('tr.added').count()).toBe(1)
    expect(await orders.locator('tr.removed').count()).toBe(1)
    expect(await orders.locator('tr.removed').innerText()).toContain('id=5')
    expect(errors).toEqual([])

    const shots = process.env.STRATA_SCREENSHOT_DIR
    if (shots) {
      await mkdir(shots, { recursive: true })
      await page.screenshot({ path: join(shots, 'ui.png'), fullPage: true })
    }
  })
})
