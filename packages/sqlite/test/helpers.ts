import { execFile } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { LocalStore, Repository, type ObjectStore } from '@strata/core'
import { CountingStore, tempDir } from '@strata/core/testing'
import { openBranch, type LiveMode } from '../src/index.js'

/** A repository on a LocalStore in a fresh temp dir, with a cache dir for working files. */
export interface TestRepo {
  repo: Repository
  /** Present when asked for: counts every store call and byte. */
  counting: CountingStore | null
  dir: string
  storeDir: string
  cacheDir: string
  cleanup(): Promise<void>
}

/** Create a {@link TestRepo}; `counting` wraps the store in a `CountingStore`. */
export async function makeRepo(opts: { counting?: boolean } = {}): Promise<TestRepo> {
  const tmp = await tempDir('strata-sqlite-')
  const storeDir = join(tmp.path, 'store')
  const local = new LocalStore(storeDir)
  const counting = opts.counting ? new CountingStore(local) : null
  const repo = await Repository.init((counting ?? local) as ObjectStore)
  return { repo, counting, dir: tmp.path, storeDir, cacheDir: join(tmp.path, 'cache'), cleanup: tmp.cleanup }
}

/** How to build a test database. */
export interface BuildOptions {
  pageSize?: number
  journalMode?: 'wal' | 'delete'
  autoVacuum?: 'none' | 'full'
  /** Scale factor: 1 gives 5000 users, 1000 products, 15000 orders, 300 attachments, 1000 kv rows. */
  scale?: number
  /** Bytes of the largest attachment blob (default 20 000: several pages at 4 KiB). */
  maxBlob?: number
}

/** A deterministic pseudo-random generator (so every build of the same options is identical). */
export function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** Deterministic bytes for blob `id`. */
export function blobFor(id: number, length: number): Buffer {
  const r = rng(id * 7919 + 1)
  const b = Buffer.alloc(length)
  for (let i = 0; i < length; i += 4) b.writeUInt32LE((r() * 2 ** 32) >>> 0, Math.min(i, length - 4))
  return b
}

/**
 * Build a realistic database at `path`: users (unique email, index), products (unique sku),
 * orders (two indexes), attachments with blobs larger than a page (overflow pages) and a
 * WITHOUT ROWID key-value table. Returns the database closed.
 */
export function buildDatabase(path: string, opts: BuildOptions = {}): void {
  const scale = opts.scale ?? 1
  const maxBlob = opts.maxBlob ?? 20_000
  const db = new Database(path)
  db.pragma(`page_size = ${opts.pageSize ?? 4096}`)
  db.pragma(`auto_vacuum = ${opts.autoVacuum ?? 'none'}`)
  db.pragma(`journal_mode = ${opts.journalMode ?? 'delete'}`)
  db.exec(`
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
    CREATE INDEX users_created ON users(created_at);
    CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, price REAL NOT NULL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), product_id INTEGER NOT NULL REFERENCES products(id), qty INTEGER NOT NULL, ordered_at INTEGER NOT NULL);
    CREATE INDEX orders_user ON orders(user_id);
    CREATE INDEX orders_product_time ON orders(product_id, ordered_at);
    CREATE TABLE attachments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, name TEXT, data BLOB NOT NULL);
    CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
  `)
  const r = rng(42)
  const nUsers = Math.round(5000 * scale)
  const nProducts = Math.round(1000 * scale)
  db.transaction(() => {
    const u = db.prepare('INSERT INTO users (id, name, email, created_at) VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= nUsers; i++) u.run(i, `user ${i} ${'x'.repeat(Math.floor(r() * 40))}`, `user${i}@example.com`, 1_600_000_000 + Math.floor(r() * 1e8))
    const p = db.prepare('INSERT INTO products (id, sku, title, price) VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= nProducts; i++) p.run(i, `SKU-${i.toString(36)}`, `product ${i}`, Math.round(r() * 10000) / 100)
    const o = db.prepare('INSERT INTO orders (id, user_id, product_id, qty, ordered_at) VALUES (?, ?, ?, ?, ?)')
    for (let i = 1; i <= Math.round(15000 * scale); i++) o.run(i, 1 + Math.floor(r() * nUsers), 1 + Math.floor(r() * nProducts), 1 + Math.floor(r() * 9), 1_650_000_000 + i * 60)
    const a = db.prepare('INSERT INTO attachments (id, order_id, name, data) VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= Math.round(300 * scale); i++) a.run(i, i * 3, `file-${i}.bin`, blobFor(i, 500 + Math.floor(r() * (maxBlob - 500))))
    const k = db.prepare('INSERT INTO kv (k, v) VALUES (?, ?)')
    for (let i = 1; i <= Math.round(1000 * scale); i++) k.run(`key:${i.toString().padStart(6, '0')}`, `value ${i}`)
  })()
  db.close()
}

/** Rows in the tables {@link buildDatabase} creates at `scale`. */
export function rowCount(scale = 1): number {
  return Math.round(5000 * scale) + Math.round(1000 * scale) + Math.round(15000 * scale) + Math.round(300 * scale) + Math.round(1000 * scale)
}

/** Inserts, updates, deletes and DDL (new table, new index, dropped table) on a built database. */
export function applyChanges(db: Database.Database, seed = 7): void {
  const r = rng(seed)
  db.transaction(() => {
    const maxUser = (db.prepare('SELECT max(id) AS m FROM users').get() as { m: number }).m
    const u = db.prepare('INSERT INTO users (id, name, email, created_at) VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= 500; i++) u.run(maxUser + i, `new user ${seed}/${i}`, `new${seed}-${i}@example.com`, 1_700_000_000 + i)
    const o = db.prepare('INSERT INTO orders (user_id, product_id, qty, ordered_at) VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= 2000; i++) o.run(1 + Math.floor(r() * (maxUser + 500)), 1 + Math.floor(r() * 100), 1 + Math.floor(r() * 5), 1_700_000_000 + i)
    db.prepare('UPDATE orders SET qty = qty + 1 WHERE id % 7 = 0').run()
    db.prepare('UPDATE attachments SET data = ? WHERE id = 5').run(blobFor(1000 + seed, 30_000))
    db.prepare('INSERT INTO attachments (order_id, name, data) VALUES (?, ?, ?)').run(1, 'big.bin', blobFor(2000 + seed, 50_000))
    db.prepare('DELETE FROM orders WHERE id % 11 = 0').run()
    db.exec(`
      CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER, what TEXT);
      INSERT INTO audit (at, what) SELECT ordered_at, 'order ' || id FROM orders WHERE id % 13 = 0;
      CREATE INDEX users_name ON users(name);
      DROP TABLE kv;
    `)
  })()
}

const READ_BRANCH = fileURLToPath(new URL('./fixtures/read-branch.ts', import.meta.url))

/** What the fresh-process reader prints. */
export interface ReadBranchOutput {
  head: string
  summary: import('./content.js').ContentSummary
  integrity: { ok: boolean; messages: string[] }
  pageCount: number
  dirty: boolean
}

/** Open `branch` of the store at `storeDir` in a fresh Node process and read it. */
export async function readBranchInChild(storeDir: string, branch: string, mode: LiveMode, cacheDir: string): Promise<ReadBranchOutput> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', READ_BRANCH, storeDir, branch, mode, cacheDir], {
    maxBuffer: 16 * 1024 * 1024,
  })
  return JSON.parse(stdout) as ReadBranchOutput
}

/** The exported bytes of a branch or snapshot. */
export async function exportBytes(repo: Repository, spec: string, dir: string): Promise<Buffer> {
  const path = join(dir, `export-${Math.random().toString(36).slice(2)}.sqlite`)
  await repo.export(spec, path)
  try {
    return await readFile(path)
  } finally {
    await rm(path, { force: true })
  }
}

/** Run `sql` (or a function of the database) on a live copy of `branch` in memory, and commit it. */
export async function commitSql(repo: Repository, branch: string, sql: string | ((db: Database.Database) => void)): Promise<void> {
  const live = await openBranch(repo, branch, { mode: 'memory' })
  try {
    if (typeof sql === 'string') live.db.exec(sql)
    else sql(live.db)
    await live.commit({ message: typeof sql === 'string' ? sql.slice(0, 60) : 'workload' })
  } finally {
    await live.close({ uncommitted: 'discard' })
  }
}

/** A {@link TestRepo} whose main is a {@link buildDatabase} database at `scale`, imported. */
export async function importedRepo(scale: number): Promise<TestRepo> {
  const t = await makeRepo()
  const src = join(t.dir, 'source.sqlite')
  buildDatabase(src, { scale })
  await t.repo.importDatabase(src)
  return t
}
