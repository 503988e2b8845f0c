import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { LocalStore, Repository, StoreError } from '@strata/core'
import { FaultyStore } from '@strata/core/testing'
import { reportError } from '@strata/cli'
import { BIN, jsonError, listing, makeFixture, useImportedStore, type CliRun } from './helpers.js'

// Paths the user gives (export's output, import's input, --store, --cache-dir) that cannot be
// used: each is a typed error naming the path and what to do, never a raw errno with the
// "this is a bug" hint; and nothing is left behind.

const fixture = useImportedStore('paths')
const cli = fixture.cli

const isRoot = process.getuid?.() === 0
// As root the permission test runs the CLI as an unprivileged user, which needs to reach the
// built CLI: a checkout under a private (0700) directory does not let it.
const nobodyCanRun = isRoot && spawnSync(process.execPath, [BIN, '--version'], { uid: 65534, gid: 65534 }).status === 0

/** Run the built CLI with `input` on stdin (and, as root, optionally as an unprivileged user). */
function strataWith(args: string[], opts: { input?: Buffer; asNobody?: boolean } = {}): Promise<CliRun & { stdoutBytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), STRATA_CACHE_DIR: join(fixture.dir, 'cache') }
    delete env.STRATA_STORE
    delete env.STRATA_DEBUG
    const child = spawn(process.execPath, [BIN, '--store', fixture.store, ...args], {
      cwd: fixture.dir,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.asNobody ? { uid: 65534, gid: 65534 } : {}),
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out)
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString('latin1'), stderr: Buffer.concat(err).toString(), stdoutBytes })
    })
    child.stdin.end(opts.input ?? Buffer.alloc(0))
  })
}

/** A tmpfs of `size` mounted at `dir`, or null where this machine does not let the test mount one. */
function mountTmpfs(dir: string, options: string): boolean {
  if (!isRoot) return false
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0
}

/** Expect a STRATA_FILE_ERROR with `problem` and exit `code`, naming `path`, in both output forms. */
async function expectFileError(args: string[], want: { problem: string; path: string; code: number; asNobody?: boolean }): Promise<void> {
  const human = await strataWith(args, want.asNobody ? { asNobody: true } : {})
  expect(human.code, human.stderr).toBe(want.code)
  expect(human.stderr).toContain(want.path)
  expect(human.stderr).toMatch(/^hint: /m)
  expect(human.stderr).not.toMatch(/this is a bug|\.tmp\b|E[A-Z]{3,}:/)
  if (want.code === 2) expect(human.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Try: strata [a-z]+ --help$/)
  const machine = await strataWith([...args, '--json'], want.asNobody ? { asNobody: true } : {})
  expect(machine.code).toBe(want.code)
  expect(jsonError(machine)).toMatchObject({ code: 'STRATA_FILE_ERROR', data: { problem: want.problem, path: want.path } })
}

describe('export to a path that cannot be written', () => {
  it('a missing directory: exit 2 naming it, nothing written', async () => {
    await expectFileError(['export', 'main', 'no/such/dir/x.db'], { problem: 'missing-directory', path: 'no/such/dir', code: 2 })
    expect((await readdir(fixture.dir)).sort()).not.toContain('no')
  })

  it('a file where a directory should be: exit 2 naming the file', async () => {
    await expectFileError(['export', 'main', 'app.db/x.db'], { problem: 'not-a-directory', path: 'app.db', code: 2 })
  })

  it('a directory without write permission: exit 2', async (ctx) => {
    if (isRoot && !nobodyCanRun) ctx.skip()
    const dir = join(fixture.dir, 'locked')
    await mkdir(dir)
    await chmod(dir, 0o555)
    // root ignores permissions: run the CLI as an unprivileged user instead (the store stays readable to it).
    if (isRoot) await chmod(fixture.dir, 0o755)
    await expectFileError(['export', 'main', join(dir, 'x.db')], { problem: 'permission-denied', path: dir, code: 2, asNobody: isRoot })
    expect(await readdir(dir)).toEqual([])
  })

  describe('on mounted file systems', () => {
    const ro = () => join(fixture.dir, 'ro')
    const small = () => join(fixture.dir, 'small')
    let mounted = { ro: false, small: false }
    beforeAll(async () => {
      await mkdir(ro())
      await mkdir(small())
      mounted = { ro: mountTmpfs(ro(), 'ro,size=64k'), small: mountTmpfs(small(), 'size=32k') }
    })
    afterAll(() => {
      for (const [dir, on] of [[ro(), mounted.ro], [small(), mounted.small]] as const) if (on) spawnSync('umount', [dir])
    })

    it('a read-only file system: exit 2', async (t) => {
      if (!mounted.ro) t.skip()
      await expectFileError(['export', 'main', join(ro(), 'x.db')], { problem: 'read-only', path: ro(), code: 2 })
    })

    it('a store on a full disk: exit 1 with what to do, and nothing partial in the store', async (t) => {
      if (!mounted.small) t.skip()
      const store = join(small(), 'store')
      const init = await strataWith(['--store', store, 'init'])
      expect(init.code, init.stderr).toBe(0)
      const before = await listing(store)
      const r = await strataWith(['--store', store, 'import', 'app.db', '--json'])
      expect(r.code, r.stderr).toBe(1)
      expect(jsonError(r)).toMatchObject({ code: 'STRATA_STORE_ERROR', hint: expect.stringMatching(/^free space on that device/) })
      expect(await listing(store)).toEqual(before)
      await rm(store, { recursive: true })
    })

    it('a full disk: exit 1, no partial file', async (t) => {
      if (!mounted.small) t.skip()
      await writeFile(join(small(), 'filler'), Buffer.alloc(16 << 10))
      await expectFileError(['export', 'main', join(small(), 'x.db')], { problem: 'disk-full', path: small(), code: 1 })
      expect(await readdir(small())).toEqual(['filler'])
    })
  })
})

describe('import - reads the database from stdin', () => {
  it('imports piped bytes exactly as the file', async () => {
    const r = await strataWith(['import', '-', '--branch', 'piped', '--json'], { input: await readFile(join(fixture.dir, 'app.db')) })
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ file: '-', branch: 'piped' })
    const a = await cli('show', 'main', '--json')
    const b = await cli('show', 'piped', '--json')
    expect((JSON.parse(b.stdout) as { checksum: string }).checksum).toBe((JSON.parse(a.stdout) as { checksum: string }).checksum)
  })

  it('refuses empty input and non-SQLite bytes, writing nothing', async () => {
    const before = await listing(fixture.store)
    const empty = await strataWith(['import', '-', '--branch', 'empty', '--json'])
    expect(empty.code).toBe(1)
    expect(jsonError(empty)).toMatchObject({ code: 'STRATA_INVALID_DATABASE', data: { path: 'stdin' } })
    const text = await strataWith(['import', '-', '--branch', 'text'], { input: Buffer.from('not a database\n'.repeat(400)) })
    expect(text.code).toBe(1)
    expect(text.stderr).toMatch(/^strata: stdin is not a usable SQLite database/)
    expect(await listing(fixture.store)).toEqual(before)
  })
})

describe('usage errors name the value and end with what to run', () => {
  it.each([
    [['frobnicate'], "'frobnicate'"],
    [['export', 'main'], "'out'"],
    [['export', 'main', 'x.db', '--bogus'], "'--bogus'"],
    [['log', '--limit', 'x'], "'x'"],
    [['gc', '--grace', 'soon'], "'soon'"],
    [['compact', '--min-live', '3'], "'3'"],
    [['export', 'main', 'x.db', 'extra'], 'got 3'],
    [['sql', 'main', '  '], 'no statement'],
  ])('%j', async (args, value) => {
    const r = await cli(...args)
    expect(r.code, r.stderr).toBe(2)
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines[0]).toContain(value)
    expect(lines.at(-1)).toMatch(/^Try: strata( [a-z]+)? --help$/)
    expect(r.stderr).not.toContain('this is a bug')
  })
})

describe('where the fix is a flag, the error names it', () => {
  it('export onto an existing file names --overwrite', async () => {
    const r = await cli('export', 'main', 'app.db')
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('strata: invalid output path: app.db already exists\nhint: pass --overwrite to replace it, or choose another path\nTry: strata export --help\n')
  })

  it('repoint to a store that is not allowed names it and --allow-store, with no placeholder snapshot', async () => {
    const r = await cli('repoint', '/srv/old-base', '/srv/new-base')
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'strata: cannot open store file:///srv/new-base: it is not on the allowlist of stores this repository may open\n' +
        'hint: allow it: --allow-store file:///srv/new-base (or add it to STRATA_ALLOW_STORES)\n',
    )
  })
})

describe('a store whose disk fills up, where no small file system can be mounted', () => {
  it('a wrapper failing writes with ENOSPC: the store error with what to do, exit 1', async () => {
    const inner = new LocalStore(join(fixture.dir, 'enospc-store'))
    const full = new FaultyStore(inner, {
      rules: [{
        operation: 'put',
        keyPrefix: 'segments/',
        times: Infinity,
        error: (c) => new StoreError({ operation: 'put', key: c.key, store: inner.url, retryable: false }, { cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' }) }),
      }],
    })
    const repo = await Repository.init(full)
    const e = await repo.importDatabase(join(fixture.dir, 'app.db')).catch((x: unknown) => x)
    const r = reportError(e, 'strata import')
    expect(r).toMatchObject({ exitCode: 1, json: { code: 'STRATA_STORE_ERROR', hint: expect.stringMatching(/^free space on that device/) } })
    expect(r.lines.join('\n')).not.toContain('this is a bug')
  })
})

describe('store and cache paths', () => {
  it('a store path through a file: exit 2 naming the file', async () => {
    const r = await strataWith(['--store', join(fixture.dir, 'app.db', 'store'), 'init'])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain(join(fixture.dir, 'app.db'))
    expect(r.stderr).not.toMatch(/this is a bug|E[A-Z]{3,}:/)
  })

  it('a cache directory that is a file: exit 2 naming it', async () => {
    await expectFileError(['sql', 'main', 'SELECT 1', '--cache-dir', 'app.db'], { problem: 'not-a-directory', path: 'app.db', code: 2 })
  })
})

afterAll(async () => {
  await rm(join(fixture.dir, 'locked'), { recursive: true, force: true })
})

describe('export - streams the database to stdout', () => {
  it('writes exactly the bytes of a file export, in order, and its summary on stderr', async () => {
    const file = await cli('export', 'main', 'streamed-ref.db')
    expect(file.code, file.stderr).toBe(0)
    const r = await strataWith(['export', 'main', '-'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdoutBytes.equals(await readFile(join(fixture.dir, 'streamed-ref.db')))).toBe(true)
    expect(r.stderr).toMatch(/^Exported main \([0-9a-f]{12}\) to stdout: \d+ pages, .*checksum [0-9a-f]+\n$/)
    expect(await readdir(fixture.dir)).not.toContain('-')
  })

  it('through a pipe into gzip (strata export main - | gzip), the bytes survive the round trip', async () => {
    const { gunzipSync, createGzip } = await import('node:zlib')
    const child = spawn(process.execPath, [BIN, '--store', fixture.store, 'export', 'main', '-', '-q'], { cwd: fixture.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    const gz: Buffer[] = []
    const gzip = createGzip()
    child.stdout.pipe(gzip).on('data', (b: Buffer) => gz.push(b))
    const [code] = await Promise.all([new Promise<number | null>((res) => child.on('close', res)), new Promise((res) => gzip.on('end', res))])
    expect(code).toBe(0)
    expect(gunzipSync(Buffer.concat(gz)).equals(await readFile(join(fixture.dir, 'streamed-ref.db')))).toBe(true)
  })

  it('a write that fails (a full disk behind the redirect) exits 1 saying the output is incomplete', async (t) => {
    // /dev/full fails every write with ENOSPC, as a full disk does.
    if (!existsSync('/dev/full')) t.skip()
    const full = openSync('/dev/full', 'w')
    onTestFinished(() => closeSync(full))
    const r = await new Promise<CliRun>((resolve) => {
      const child = spawn(process.execPath, [BIN, '--store', fixture.store, 'export', 'main', '-'], { cwd: fixture.dir, stdio: ['ignore', full, 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }))
    })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/stopped after 0 bytes were confirmed written; what reached stdout is incomplete, discard it/)
    expect(r.stderr).toMatch(/^strata: stdout: no space left on the device\nhint: free space/m)
  })

  it('a damaged page stops the stream: exit 1, the engine error, and how much was written', async () => {
    const damaged = join(fixture.dir, 'damaged-store')
    await cp(fixture.store, damaged, { recursive: true })
    const segments = join(damaged, 'segments')
    for (const name of await readdir(segments)) {
      const bytes = await readFile(join(segments, name))
      bytes[bytes.length - 100]! ^= 0xff
      await writeFile(join(segments, name), bytes)
    }
    const r = await strataWith(['--store', damaged, 'export', 'main', '-'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^strata: the export to stdout stopped after \d+ bytes were confirmed written; what reached stdout is incomplete, discard it\nstrata: page \d+ of snapshot [0-9a-f]+ .* is corrupt/)
    expect(r.stderr).toMatch(/\nhint: the store is damaged; run `strata verify --deep`/)
  })

  it('a reader that stops early (export main - | head -c 10) is an error, not a success', async () => {
    // Larger than a pipe's buffer, so the reader is gone before the last write.
    makeFixture(join(fixture.dir, 'big.db'), 20_000)
    expect((await cli('import', 'big.db', '--branch', 'big')).code).toBe(0)
    const r = await new Promise<CliRun>((resolve) => {
      const child = spawn(process.execPath, [BIN, '--store', fixture.store, 'export', 'big', '-'], { cwd: fixture.dir, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stdout.once('data', () => child.stdout.destroy())
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }))
    })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/what reached stdout is incomplete, discard it\nstrata: stdout was closed by its reader before everything was written\nhint: /)
  })

  it('refuses --check and --json, which need a file', async () => {
    const check = await strataWith(['export', 'main', '-', '--check'])
    expect(check.code, check.stderr).toBe(2)
    expect(check.stdout).toBe('')
    expect(check.stderr).toMatch(/^strata: invalid --check: .*\nTry: strata export --help\n$/)
    const json = await strataWith(['export', 'main', '-', '--json'])
    expect(json.code).toBe(2)
    expect(json.stdout).toBe('')
    expect(jsonError(json)).toMatchObject({ code: 'STRATA_INVALID_ARGUMENT', data: { argument: '--json' } })
  })

  it('--help says that a pipe cannot unwrite bytes', async () => {
    const r = await cli('export', '--help')
    expect(r.stdout).toMatch(/A pipe cannot unwrite\s+bytes/)
    expect(r.stdout).toContain('strata export main - | gzip > main.db.gz')
  })
})
