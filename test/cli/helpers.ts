import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect } from 'vitest'

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The built CLI: the tests exercise exactly what `npx strata` runs (the bundle, see packages/cli/scripts/bundle.mjs). */
export const BIN = join(ROOT, 'packages', 'cli', 'bin', 'strata.js')

/** The bundle `BIN` runs when it is at least as new as every package's build. */
const BUNDLE = join(ROOT, 'packages', 'cli', 'bundle', 'strata.js')

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * Fail early and clearly if the CLI was not built (the root `pretest` script builds it), and
 * warn if a source is newer than its package's last build.
 */
export function assertBuilt(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${relative(ROOT, BUNDLE)} is missing: run \`npm run build\` (or \`npm test\`, which builds first)`)
  const bundled = statSync(BUNDLE).mtimeMs
  for (const pkg of ['core', 's3', 'sqlite', 'cli']) {
    const info = join(ROOT, 'packages', pkg, 'tsconfig.tsbuildinfo')
    if (!existsSync(info)) continue
    const built = statSync(info).mtimeMs
    if (built > bundled) console.warn(`packages/${pkg} was built after the CLI's bundle: the CLI tests run the unbundled build (run \`npm run build\`)`)
    const newest = newestMtime(join(ROOT, 'packages', pkg, 'src'))
    if (newest > built) console.warn(`packages/${pkg}/src changed after its last build: the CLI tests run the old build (run \`npx tsc -b\`)`)
  }
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

/**
 * Run the built CLI as a child process. The environment is the test's own minus `STRATA_STORE`
 * and `STRATA_DEBUG`, plus `env`; stdout and stderr are captured separately.
 */
export function strata(args: readonly string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env, STRATA_STORE: undefined, STRATA_DEBUG: undefined, ...opts.env }
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k]
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd: opts.cwd ?? ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** Parse stdout as exactly one JSON document (throws, with the output, if it is anything else). */
export function json<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n--- stderr:\n${run.stderr}`)
  }
}

/** The `--json` error document on stderr. */
export function jsonError(run: CliRun): { code: string; message: string; data: Record<string, unknown> } {
  try {
    return (JSON.parse(run.stderr) as { error: { code: string; message: string; data: Record<string, unknown> } }).error
  } catch {
    throw new Error(`stderr is not one JSON error document (exit ${run.code}):\n${run.stderr}`)
  }
}

/** Every file under `dir` with its size and content hash, sorted: equal listings mean nothing was written. */
export async function listing(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const p = join(e.parentPath, e.name)
    const body = await readFile(p)
    out.push(`${relative(dir, p)} ${body.length} ${createHash('sha256').update(body).digest('hex').slice(0, 16)}`)
  }
  return out.sort()
}

/** A small SQLite database of a few dozen pages: users with orders and an index. */
export function makeFixture(path: string, rows = 1500): void {
  const db = new Database(path)
  db.exec(`
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, score REAL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total INTEGER, note BLOB);
    CREATE INDEX orders_user ON orders(user_id);
  `)
  const user = db.prepare('INSERT INTO users (name, email, score) VALUES (?, ?, ?)')
  const order = db.prepare('INSERT INTO orders (user_id, total, note) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      user.run(`user ${i}`, `user${i}@example.com`, i / 7)
      order.run(i, i * 13, Buffer.from(`note ${i};`.repeat(3)))
    }
  })()
  db.close()
}

/** Schema and every row of every table, in a stable order: equal dumps mean equal databases. */
export function dump(path: string): unknown {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const tables = db.prepare("SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string; sql: string }[]
    return tables.map((t) => ({
      ...t,
      rows: t.sql.startsWith('CREATE TABLE') ? db.prepare(`SELECT * FROM "${t.name}" ORDER BY rowid`).raw(true).all() : null,
    }))
  } finally {
    db.close()
  }
}

/** A scratch directory with a local store holding `app.db` imported as main, and a CLI bound to it. */
export interface ImportedStore {
  readonly dir: string
  readonly store: string
  /** Run the built CLI on the store, in the directory, with its own segment cache. */
  cli(...args: string[]): Promise<CliRun>
}

/**
 * Register `beforeAll`/`afterAll` hooks that build the CLI check, a scratch directory named after
 * `name`, a fixture of `rows` rows, `strata init` and `strata import app.db`; and remove it after.
 */
export function useImportedStore(name: string, rows = 300): ImportedStore {
  let dir = ''
  const cli = (...args: string[]): Promise<CliRun> =>
    strata(['--store', join(dir, 'store'), ...args], { cwd: dir, env: { STRATA_CACHE_DIR: join(dir, 'cache') } })
  beforeAll(async () => {
    assertBuilt()
    dir = await mkdtemp(join(tmpdir(), `strata-cli-${name}-`))
    makeFixture(join(dir, 'app.db'), rows)
    expect((await cli('init')).code).toBe(0)
    const imported = await cli('import', 'app.db')
    expect(imported.code, imported.stderr).toBe(0)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  return {
    get dir() {
      return dir
    },
    get store() {
      return join(dir, 'store')
    },
    cli,
  }
}
