import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pLimit from 'p-limit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { S3Store } from '@strata/s3'
import { TEST_S3_CREDENTIALS, TEST_S3_REGION, createTestBucket, localTarget, startTestS3, type TestS3 } from '@strata/s3/testing'
import { BIN, ROOT, assertBuilt, makeFixture, strata, type CliRun } from '../cli/helpers.js'
import { classify, fences, shellCommands, simpleCommands, type Fence, type ShellCommand } from './markdown.js'

// The docs check: every shell command shown in README.md, docs/*.md and examples/*/README.md runs
// here, and every TypeScript block of them is type-checked and executed, so the docs cannot rot.
//
// - Each file runs in its own scratch directory holding `app.db` (a small users/orders database),
//   with its `sh` blocks in order as one shell session: `export` lines carry over to the file's
//   later commands. `strata` is the built CLI (packages/cli/bin/strata.js) and `curl` runs there too;
//   `npm run …` and `npm start -w …` run from the repository root, as the README says to.
// - `s3://bucket/…` URLs reach a local S3 server of the file's own (the test server behind its
//   conditional-write proxy, on 127.0.0.1) through the standard AWS variables, so the S3 commands
//   run offline; buckets named in the file exist and start empty.
// - A command that cannot run offline (a real AWS account, a provider's endpoint) ends in a
//   visible `# not run: <why>`; any other command the check has no way to run fails it.
// - `# {…}` lines after a command show the JSON it prints: its keys must match, and ids shown there
//   stand for the ones the command really returned in the file's later commands.
// - `export PORT=<n>` gets a free port instead of n; a command ending in `&` runs in the
//   background until `kill %N` (or the end of the file), and the next command waits for $PORT.
// - `npm ci`, `npm run build` and `npm test` are not re-run (this check runs inside `npm test`,
//   after its build): the check verifies that they describe this checkout.

/** The markdown files whose commands must run. */
function docFiles(): string[] {
  const inDir = (dir: string, pick: (name: string) => string | null): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true })
      .map((e) => pick(e.isDirectory() ? `${e.name}/` : e.name))
      .filter((p): p is string => p !== null)
      .sort()
  return [
    'README.md',
    ...inDir('docs', (n) => (n.endsWith('.md') ? `docs/${n}` : null)),
    ...inDir('examples', (n) => (n.endsWith('/') && existsSync(join(ROOT, 'examples', n, 'README.md')) ? `examples/${n}README.md` : null)),
  ]
}

const LANGS = new Set(['sh', 'ts', 'text', 'json', 'mermaid'])
const FILES = docFiles()
const FENCES = new Map(FILES.map((f) => [f, fences(f, readFileSync(join(ROOT, f), 'utf8'))]))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }

/** The runs below go in parallel, at most three at a time: the rest of `npm test` shares the cores. */
const slot = pLimit(3)
const limited = (fn: () => Promise<void>) => (): Promise<void> => slot(fn)

let scratch: string
let shim: string
beforeAll(async () => {
  assertBuilt()
  scratch = await mkdtemp(join(tmpdir(), 'strata-docs-'))
  shim = join(scratch, 'bin')
  await mkdir(shim)
  await writeFile(join(shim, 'strata'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
  await chmod(join(shim, 'strata'), 0o755)
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

describe('the docs are checkable', () => {
  it('covers the README, docs/ and every example', () => {
    expect(FILES).toContain('README.md')
    expect(FILES).toContain('docs/format.md')
    expect(FILES).toContain('docs/architecture.md')
    for (const ex of readdirSync(join(ROOT, 'examples'), { withFileTypes: true })) if (ex.isDirectory()) expect(FILES).toContain(`examples/${ex.name}/README.md`)
  })

  it('every block says what it is, commands live in sh blocks, and the check has a way to run each one', () => {
    const problems: string[] = []
    for (const [file, fs] of FENCES) {
      for (const f of fs) {
        const at = `${file}:${f.line}`
        if (!LANGS.has(f.lang)) problems.push(`${at}: a \`${f.lang || 'bare'}\` block; use one of ${[...LANGS].join(', ')} (sh for commands, text for output)`)
        if (f.lang === 'text' && /^\$ /m.test(f.body)) problems.push(`${at}: a "$ " command in a text block: put commands in an sh block, where they are run`)
        if (f.lang !== 'sh') continue
        let cmds: ShellCommand[]
        try {
          cmds = shellCommands(f)
        } catch (e) {
          problems.push((e as Error).message)
          continue
        }
        for (const c of cmds) {
          if (c.notRun !== null) continue
          const kinds = simpleCommands(c.text).parts.map(classify)
          for (const k of kinds) if (k.kind === 'unknown') problems.push(`${file}:${c.line}: ${c.text}\n  ${k.why}; run it in the check or mark it "# not run: <why>"`)
          if (kinds.some((k) => k.kind === 'repo') && kinds.some((k) => k.kind === 'sandbox')) problems.push(`${file}:${c.line}: npm and strata/curl in one line run in different directories; split it`)
          if (kinds.length > 1 && kinds.some((k) => k.kind === 'env' || k.kind === 'job')) problems.push(`${file}:${c.line}: export and kill stand on a line of their own`)
          if (c.background && kinds.some((k) => k.kind !== 'repo' && k.kind !== 'sandbox')) problems.push(`${file}:${c.line}: only a command the check runs can go to the background`)
        }
      }
    }
    expect(problems.join('\n')).toBe('')
  })
})

/** The README's opening block: the two commands for a fresh machine, run on their own (in parallel with the rest). */
const OPENING = FENCES.get('README.md')![0]!

describe.concurrent('every command shown runs', () => {
  it('README.md opens with the two commands for a fresh machine, and they work', { timeout: 240_000 }, limited(async () => {
    expect(OPENING.lang).toBe('sh')
    expect(OPENING.heading).toBe('Strata')
    expect(OPENING.body.trim().split('\n')).toEqual(['npm ci && npm run build && npm run demo', 'npm test'])
    const session = await Session.open('README.md', [OPENING])
    try {
      for (const c of shellCommands(OPENING)) await session.run(OPENING, c)
      const demo = session.outputs.get('npm run demo')!
      for (const step of ['init', 'import', 'branch create', 'sql', 'export', 'branch delete', 'gc', 'verify']) expect(demo.stdout).toContain(`$ strata ${step}`)
      expect(demo.stdout).toContain('integrity_check ok')
      expect(demo.stdout.trimEnd().endsWith('demo ok')).toBe(true)
    } finally {
      await session.close()
    }
  }))

  for (const file of FILES) {
    const sh = FENCES.get(file)!.filter((f) => f.lang === 'sh' && f !== OPENING)
    if (sh.length === 0) continue
    // The README is one long session (its sections build on each other): on a loaded machine it needs more than the rest.
    it(file, { timeout: file === 'README.md' ? 420_000 : 240_000 }, limited(async () => {
      const session = await Session.open(file, sh)
      try {
        for (const f of sh) for (const c of shellCommands(f)) await session.run(f, c)
        await AFTER[file]?.(session)
      } finally {
        await session.close()
      }
    }))
  }
})

describe.concurrent('every TypeScript block type-checks and runs', () => {
  const blocks = [...FENCES.values()].flat().filter((f) => f.lang === 'ts')

  it('type-checks (tsc, strict, against the built packages)', { timeout: 240_000 }, limited(async () => {
    const dir = await mkdtemp(join(scratch, 'types-'))
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    const files = await Promise.all(
      blocks.map(async (f, i) => {
        const name = `block${i}.mts`
        await writeFile(join(dir, name), `export {}\n${f.body}\n`)
        return { name, at: `${f.file}:${f.line}` }
      }),
    )
    const tsconfig = {
      compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], noUncheckedIndexedAccess: true },
      files: files.map((f) => f.name),
    }
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig))
    const r = await sh(`"${process.execPath}" "${join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')}" -p .`, dir, process.env as Record<string, string>)
    const out = files.reduce((text, f) => text.split(f.name).join(f.at), r.stdout + r.stderr)
    expect(r.code, out).toBe(0)
  }))

  for (const f of blocks) {
    it(`${f.file}:${f.line} (${f.heading})`, { timeout: 240_000 }, limited(async () => {
      const session = await Session.open(f.file, [f])
      try {
        await symlink(join(ROOT, 'node_modules'), join(session.dir, 'node_modules'))
        await writeFile(join(session.dir, 'example.mts'), f.body)
        const r = await sh(`"${process.execPath}" --import tsx example.mts`, session.dir, session.env)
        expect(r.code, `${f.file}:${f.line}\n${r.stdout}\n${r.stderr}`).toBe(0)
        await AFTER_TS[f.heading]?.(session, r)
      } finally {
        await session.close()
      }
    }))
  }
})

/** What a file's commands must also have produced, beyond exiting 0. */
const AFTER: Record<string, (s: Session) => Promise<void>> = {
  'README.md': async (s) => {
    expect(existsSync(join(s.dir, 'migrated.db'))).toBe(true)
    // The id shown in the sql --json output stood for the real one: why-alive found that snapshot.
    const why = [...s.outputs].find(([line]) => line.startsWith('strata why-alive'))
    expect(why?.[1].stdout).toMatch(/^snapshot [0-9a-f]{32} .* is alive, kept by/)
  },
}

/** What a TypeScript block must also have done, by the heading it stands under. */
const AFTER_TS: Record<string, (s: Session, run: CliRun) => Promise<void>> = {
  'Using it as a library': async (s) => {
    const check = await strata(['--store', join(s.dir, 'data'), 'branch', 'list', '--json'], { cwd: s.dir })
    expect(JSON.parse(check.stdout)).toMatchObject({ branches: [{ name: 'main' }] })
    expect(existsSync(join(s.dir, 'run-42.db'))).toBe(true)
  },
}

/** The variables a session inherits from the test process. */
const SHELL_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TERM', 'TMPDIR', 'TMP', 'TEMP']

/** A background command of a file. */
interface Job {
  line: string
  child: ChildProcess
  output: string
  exited: Promise<number | null>
}

/** One file's shell session: scratch directory, environment, S3 server, background jobs. */
class Session {
  readonly outputs = new Map<string, CliRun>()
  readonly #subst = new Map<string, string>()
  readonly #jobs: Job[] = []

  private constructor(
    readonly file: string,
    readonly dir: string,
    readonly env: Record<string, string>,
    readonly s3: TestS3 | null,
  ) {}

  /** A fresh scratch directory with app.db, and a local S3 server if the blocks name a bucket. */
  static async open(file: string, blocks: Fence[]): Promise<Session> {
    const dir = await mkdtemp(join(scratch, 'run-'))
    makeFixture(join(dir, 'app.db'), 200)
    // A newcomer's shell, not the test runner's: no STRATA_*, AWS_* or npm_* variables, and none of
    // those vitest sets (BASE_URL, NODE_ENV, VITEST…), which the examples would pick up.
    const env: Record<string, string> = {}
    for (const k of SHELL_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!
    Object.assign(env, {
      PATH: `${shim}:${process.env.PATH ?? ''}`,
      XDG_CACHE_HOME: join(dir, '.cache'),
      AWS_CONFIG_FILE: join(dir, '.aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, '.aws-credentials'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    })
    const buckets = new Set([...blocks.map((b) => b.body).join('\n').matchAll(/s3:\/\/([a-z0-9][a-z0-9.-]{2,62})/g)].map((m) => m[1]!))
    let s3: TestS3 | null = null
    if (buckets.size > 0) {
      s3 = await startTestS3()
      for (const b of buckets) await createTestBucket(s3.endpoint, b)
      const { options } = localTarget(s3.endpoint)
      Object.assign(env, {
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: TEST_S3_REGION,
        AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
      })
      for (const b of buckets) {
        const store = S3Store.fromUrl(`s3://${b}`, options)
        const keys: string[] = []
        for await (const o of store.list('')) keys.push(o.key)
        await store.delete(keys)
        await store.close()
      }
    }
    return new Session(file, dir, env, s3)
  }

  /** Run one command of block `f` as the check's rules say (see the top of this file). */
  async run(f: Fence, c: ShellCommand): Promise<void> {
    if (c.notRun !== null) return
    const at = `${this.file}:${c.line}`
    let text = c.text
    for (const [doc, real] of this.#subst) text = text.split(doc).join(real)
    const { parts, separators } = simpleCommands(text)
    const kinds = parts.map(classify)
    const first = kinds[0]!
    if (first.kind === 'env') {
      for (const a of first.argv.slice(1)) {
        const eq = a.indexOf('=')
        const [name, value] = [a.slice(0, eq), a.slice(eq + 1)]
        expect(value, `${at}: the check does not expand variables in export`).not.toContain('$')
        this.env[name] = name === 'PORT' ? String(await freePort()) : value
      }
      return
    }
    if (first.kind === 'job') {
      const job = this.#jobs[Number(first.argv[1]!.slice(1)) - 1]
      expect(job, `${at}: no background job ${first.argv[1]}`).toBeDefined()
      await stop(job!)
      return
    }
    const runnable: string[] = []
    for (let i = 0; i < parts.length; i++) {
      if (kinds[i]!.kind === 'installed') this.#verifyInstalled(at, kinds[i]!.argv)
      else runnable.push(parts[i]!)
    }
    if (runnable.length === 0) return
    if (runnable.length < parts.length) expect(separators.every((s) => s === '&&'), `${at}: only && may join npm ci/build/test to other commands`).toBe(true)
    const line = runnable.length < parts.length ? runnable.join(' && ') : text
    const cwd = kinds.some((k) => k.kind === 'repo') ? ROOT : this.dir
    if (c.background) {
      this.#jobs.push(await this.#start(at, line, cwd))
      return
    }
    const r = await sh(line, cwd, this.env)
    this.outputs.set(line, r)
    expect(r.code, `${at} (in "${f.heading}"): ${line}\nexit ${r.code}\n${r.stdout}\n${r.stderr}\n${this.#jobs.map((j) => `[background] ${j.line}\n${j.output}`).join('\n')}`).toBe(0)
    if (c.output.length > 0) {
      let actual: unknown
      try {
        actual = JSON.parse(r.stdout)
      } catch {
        throw new Error(`${at}: the block shows JSON output, but the command printed:\n${r.stdout}`)
      }
      const problems: string[] = []
      compareShape(JSON.parse(c.output.join('\n')), actual, '', this.#subst, problems)
      expect(problems, `${at}: the output shown differs from what ${line} printed:\n${r.stdout}`).toEqual([])
    }
  }

  #verifyInstalled(at: string, argv: string[]): void {
    const cmd = argv.slice(1).join(' ')
    if (cmd === 'ci') {
      expect(existsSync(join(ROOT, 'package-lock.json')), `${at}: npm ci needs package-lock.json`).toBe(true)
      expect(existsSync(join(ROOT, 'node_modules', '.package-lock.json')), `${at}: this checkout was not installed with npm`).toBe(true)
    } else if (cmd === 'run build') {
      // The packages, then the CLI's bundle (what bin/strata.js runs).
      expect(pkg.scripts.build, `${at}: npm run build`).toBe('tsc -b && node packages/cli/scripts/bundle.mjs')
      // npm test builds the same way first, so the CLI this check runs is what npm run build makes.
      expect(pkg.scripts.pretest, `${at}: npm test must build first`).toBe('npm run build')
    } else if (cmd === 'test') {
      expect(pkg.scripts.test, `${at}: npm test`).toMatch(/^vitest run\b/)
      expect(readFileSync(join(ROOT, 'vitest.config.ts'), 'utf8'), `${at}: npm test must include this check`).toContain("'test/**/*.test.ts'")
    }
  }

  async #start(at: string, line: string, cwd: string): Promise<Job> {
    const child = spawn('bash', ['-c', line], { cwd, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const job: Job = { line, child, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) }
    const firstOutput = new Promise<void>((resolve) => {
      const take = (d: Buffer): void => {
        job.output += d.toString()
        resolve()
      }
      child.stdout!.on('data', take)
      child.stderr!.on('data', (d: Buffer) => void (job.output += d.toString()))
    })
    const port = this.env.PORT
    const ready = port ? waitForPort(Number(port), 60_000) : firstOutput
    const exit = job.exited.then((code) => {
      throw new Error(`${at}: ${line}\nexited (${code}) before it was ready:\n${job.output}`)
    })
    await Promise.race([ready, exit])
    exit.catch(() => {})
    return job
  }

  async close(): Promise<void> {
    await Promise.all(this.#jobs.map(stop))
    await this.s3?.stop()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Compare a JSON value shown in the docs with the one printed: the same keys at every level and
 * the same types; `"…"` matches anything. A string shown that differs from the one printed (an
 * id) is recorded in `subst`, so later commands that use it get the real one.
 */
function compareShape(doc: unknown, actual: unknown, path: string, subst: Map<string, string>, problems: string[]): void {
  if (doc === '…') return
  if (Array.isArray(doc)) {
    if (!Array.isArray(actual)) return void problems.push(`${path || '.'}: shown as a list, printed ${JSON.stringify(actual)}`)
    for (let i = 0; i < Math.min(doc.length, actual.length); i++) compareShape(doc[i], actual[i], `${path}[${i}]`, subst, problems)
    return
  }
  if (doc !== null && typeof doc === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return void problems.push(`${path || '.'}: shown as an object, printed ${JSON.stringify(actual)}`)
    const shown = Object.keys(doc).sort()
    const printed = Object.keys(actual).sort()
    if (shown.join() !== printed.join()) problems.push(`${path || '.'}: shown with keys ${shown.join(', ')}; printed ${printed.join(', ')}`)
    for (const k of shown) if (k in actual) compareShape((doc as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], `${path}.${k}`, subst, problems)
    return
  }
  if (typeof doc !== typeof actual || (doc === null) !== (actual === null)) return void problems.push(`${path}: shown ${JSON.stringify(doc)}, printed ${JSON.stringify(actual)}`)
  if (typeof doc === 'string' && doc !== actual && doc.length >= 6) subst.set(doc, actual as string)
}

/** Run `line` with bash (-e, pipefail) in `cwd`. */
function sh(line: string, cwd: string, env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `set -eo pipefail\n${line}`], { cwd, env, maxBuffer: 64 << 20, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

/** Stop a background job and everything it started (its process group). */
async function stop(job: Job): Promise<void> {
  if (job.child.exitCode !== null || job.child.signalCode !== null) return
  try {
    process.kill(-job.child.pid!, 'SIGTERM')
  } catch {
    return
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-job.child.pid!, 'SIGKILL')
    } catch {}
  }, 15_000)
  await job.exited
  clearTimeout(timer)
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Resolve once 127.0.0.1:port accepts a connection; reject after `ms`. */
async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
