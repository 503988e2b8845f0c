import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ExecResult } from '@strata/cli'
import { BIN, dump, json, jsonError, useImportedStore, type CliRun } from './helpers.js'

// `strata exec`: a program that is not Strata — the sqlite3 shell, Python's sqlite3 module, sh —
// works on a checked-out branch through a file path. Every run is the built CLI as a process.

const s = useImportedStore('exec')
const { cli } = s

async function head(branch: string): Promise<string> {
  const r = await cli('branch', 'list', '--json')
  const b = json<{ branches: { name: string; head: string }[] }>(r).branches.find((x) => x.name === branch)
  if (!b) throw new Error(`no branch ${branch}`)
  return b.head
}

/** Export `spec` to `<dir>/<name>` and return the path. */
async function exported(spec: string, name: string): Promise<string> {
  const path = join(s.dir, name)
  const r = await cli('export', spec, path, '--overwrite', '--check')
  expect(r.code, r.stderr).toBe(0)
  return path
}

/** Run `sql` with the sqlite3 shell on a file. */
function sqlite3(path: string, sql: string): string {
  return execFileSync('sqlite3', [path, sql], { encoding: 'utf8' })
}

/** `sqldiff` of two database files: empty when their content is the same. */
function sqldiff(a: string, b: string): string {
  return execFileSync('sqldiff', [a, b], { encoding: 'utf8' })
}

/** A Python program that opens $STRATA_DB (autocommit), runs `lines`, then SIGKILLs itself. */
function killedAfter(...lines: string[]): string {
  return ['import os, signal, sqlite3', 'c = sqlite3.connect(os.environ["STRATA_DB"], isolation_level=None)', ...lines, 'os.kill(os.getpid(), signal.SIGKILL)'].join('\n')
}

function doc(r: CliRun): ExecResult {
  return json<ExecResult>(r)
}

describe('strata exec', () => {
  it('commits exactly what the sqlite3 shell changed when it exits 0', async () => {
    const before = await exported('main', 'before.db')
    const r = await cli('exec', 'main', '--json', '-m', 'via sqlite3', '--', 'sqlite3', '{db}', "UPDATE users SET name = 'shell ' || id WHERE id <= 5; INSERT INTO orders (user_id, total) VALUES (1, 99); SELECT count(*) FROM orders;")
    expect(r.code, r.stderr).toBe(0)
    // With --json the program's output goes to stderr: stdout is one document.
    expect(r.stderr).toContain('301')
    const d = doc(r)
    expect(d).toMatchObject({ branch: 'main', action: 'commit', changed: true, exitCode: 0, exit: { code: 0, signal: null } })
    expect(d.pagesChanged).toBeGreaterThan(0)
    expect(await head('main')).toBe(d.snapshot)

    // The same SQL applied by sqlite3 to a plain copy gives the same database.
    const expected = join(s.dir, 'expected.db')
    copyFileSync(before, expected)
    sqlite3(expected, "UPDATE users SET name = 'shell ' || id WHERE id <= 5; INSERT INTO orders (user_id, total) VALUES (1, 99);")
    const after = await exported('main', 'after.db')
    expect(sqldiff(expected, after)).toBe('')
    expect(dump(after)).toEqual(dump(expected))

    const diff = json<{ rows: { table: string; added: number; removed: number; changed: number }[] }>(await cli('diff', d.previous, d.snapshot, '--rows', '--json'))
    expect(diff.rows.map((t) => [t.table, t.added, t.removed, t.changed])).toEqual([
      ['orders', 1, 0, 0],
      ['users', 0, 0, 5],
    ])
    const log = json<{ entries: { id: string; message: string }[] }>(await cli('log', 'main', '--limit', '1', '--json'))
    expect(log.entries[0]).toMatchObject({ id: d.snapshot, message: 'via sqlite3' })
  })

  it("works with Python's sqlite3 module, STRATA_DB and {db} alike, in WAL mode", async () => {
    const script = [
      'import os, sys, sqlite3',
      'assert sys.argv[1] == os.environ["STRATA_DB"], (sys.argv[1], os.environ["STRATA_DB"])',
      'c = sqlite3.connect(os.environ["STRATA_DB"])',
      'print(c.execute("PRAGMA journal_mode").fetchone()[0])',
      'c.execute("PRAGMA journal_mode=WAL")',
      'c.execute("CREATE TABLE py (k TEXT PRIMARY KEY, v INTEGER)")',
      'c.executemany("INSERT INTO py VALUES (?, ?)", [("k%d" % i, i) for i in range(200)])',
      'c.commit()',
    ].join('\n')
    const r = await cli('exec', 'main', '--', 'python3', '-c', script, '{db}')
    expect(r.code, r.stderr).toBe(0)
    // The program sees the database in its stored journal mode (the fixture's: rollback).
    expect(r.stdout).toBe('delete\n')
    expect(r.stderr).toMatch(/python3 exited 0; committed [0-9a-f]{12} on main/)
    const out = await exported('main', 'py.db')
    expect(sqlite3(out, 'SELECT count(*), sum(v) FROM py;')).toBe('200|19900\n')
    // The stored journal mode stays the imported one, whatever the program switched to.
    expect([...readFileSync(out).subarray(18, 20)]).toEqual([1, 1])
  })

  it('commits nothing when the program exits non-zero, and passes its code through', async () => {
    const before = await head('main')
    const r = await cli('exec', 'main', '--json', '--', 'sh', '-c', 'sqlite3 "$STRATA_DB" "DELETE FROM orders" && exit 1')
    expect(r.code).toBe(1)
    expect(doc(r)).toMatchObject({ action: 'discard', changed: false, snapshot: before, previous: before, discardedChanges: true, exitCode: 1 })
    const seven = await cli('exec', 'main', '--', 'sh', '-c', 'exit 7')
    expect(seven.code).toBe(7)
    expect(seven.stderr).toContain('sh exited 7; it changed nothing')
    expect(await head('main')).toBe(before)
  })

  it('--commit keeps the changes of a failing program, --discard drops those of a successful one', async () => {
    const before = await head('main')
    const dry = await cli('exec', 'main', '--discard', '--json', '--', 'sqlite3', '{db}', 'DELETE FROM orders WHERE id > 100')
    expect(dry.code, dry.stderr).toBe(0)
    expect(doc(dry)).toMatchObject({ action: 'discard', discardedChanges: true, snapshot: before })
    const forced = await cli('exec', 'main', '--commit', '--json', '--', 'sh', '-c', 'sqlite3 "$STRATA_DB" "DELETE FROM orders WHERE id > 290"; exit 4')
    expect(forced.code).toBe(4)
    expect(doc(forced)).toMatchObject({ action: 'commit', changed: true, previous: before, exitCode: 4 })
    const out = await exported('main', 'forced.db')
    expect(sqlite3(out, 'SELECT max(id) FROM orders;')).toBe('290\n')
  })

  it('a program that switches journal modes and vacuums still commits the database it left', async () => {
    const expected = join(s.dir, 'left-behind.db')
    const sql = [
      'PRAGMA journal_mode=WAL;',
      "INSERT INTO users (name, email, score) SELECT name || ' again', email, score FROM users;",
      'PRAGMA journal_mode=TRUNCATE;',
      'DELETE FROM orders WHERE id % 3 = 0;',
      'DELETE FROM users WHERE id % 2 = 0 AND id > 300;',
      'VACUUM;',
      'PRAGMA journal_mode=PERSIST;',
      "UPDATE users SET score = -1 WHERE id = 1;",
    ].join(' ')
    // The program copies the file it leaves behind (closed, whole) for the comparison.
    const r = await cli('exec', 'main', '--json', '--', 'sh', '-c', `sqlite3 "$STRATA_DB" "${sql}" >/dev/null && cp "$STRATA_DB" ${expected}`)
    expect(r.code, r.stderr).toBe(0)
    const d = doc(r)
    expect(d).toMatchObject({ action: 'commit', changed: true })
    const out = await exported('main', 'vacuumed.db')
    expect(sqldiff(expected, out)).toBe('')
    expect(dump(out)).toEqual(dump(expected))
    // Page for page the same file: the program ended in a rollback mode, the stored one.
    expect(readFileSync(out).equals(readFileSync(expected))).toBe(true)
    expect(json<{ ok: boolean }>(await cli('verify', '--deep', '--json')).ok).toBe(true)
  })

  it('takes back what a killed program left: a WAL is recovered, a hot journal rolled back', async () => {
    const walKill = killedAfter(
      'c.execute("PRAGMA journal_mode=WAL")',
      'c.execute("INSERT INTO users (name) VALUES (\'in the wal\')")',
      'assert os.path.getsize(os.environ["STRATA_DB"] + "-wal") > 0',
    )
    const w = await cli('exec', 'main', '--commit', '--json', '--', 'python3', '-c', walKill)
    expect(w.code).toBe(128 + 9)
    expect(doc(w)).toMatchObject({ exit: { code: null, signal: 'SIGKILL' }, action: 'commit', changed: true })
    expect(sqlite3(await exported('main', 'wal-kill.db'), "SELECT count(*) FROM users WHERE name = 'in the wal';")).toBe('1\n')

    const before = await head('main')
    const journalKill = killedAfter(
      'c.execute("PRAGMA journal_mode=DELETE")',
      'c.execute("PRAGMA cache_size=1")',
      'c.execute("BEGIN")',
      'c.execute("UPDATE users SET name = name || \' never committed\'")',
      'assert os.path.getsize(os.environ["STRATA_DB"] + "-journal") > 0',
    )
    const j = await cli('exec', 'main', '--commit', '--json', '--', 'python3', '-c', journalKill)
    expect(j.code).toBe(128 + 9)
    // The half-written file is rolled back first: nothing differs from the head.
    expect(doc(j)).toMatchObject({ action: 'commit', changed: false, snapshot: before })
  })

  it('a SIGKILLed strata exec leaves the branch as it was and the store verifiable', async () => {
    const before = await head('main')
    const child = spawn(process.execPath, [BIN, '--store', s.store, 'exec', 'main', '--', 'sh', '-c', 'sqlite3 "$STRATA_DB" "DELETE FROM users"; echo ready; sleep 30'], {
      cwd: s.dir,
      env: { ...process.env, STRATA_CACHE_DIR: join(s.dir, 'cache') },
      // Its own process group, so the orphaned program can be cleaned up afterwards.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      await waitFor(child.stdout!, 'ready')
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal)))
      process.kill(child.pid!, 'SIGKILL')
      expect(await exited).toBe('SIGKILL')
      expect(await head('main')).toBe(before)
      const v = await cli('verify', '--deep', '--json')
      expect(v.code, v.stderr).toBe(0)
      expect(sqlite3(await exported('main', 'after-kill.db'), 'SELECT count(*) > 0 FROM users;')).toBe('1\n')
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // The group is gone already.
      }
    }
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`passes ${signal} on to the program, which decides; its changes are discarded`, async () => {
      const before = await head('main')
      const child = spawn(
        process.execPath,
        [BIN, '--store', s.store, 'exec', 'main', '--', 'sh', '-c', `trap 'echo got ${signal}; exit 5' ${signal.slice(3)}; sqlite3 "$STRATA_DB" "DELETE FROM orders"; echo ready; while :; do sleep 0.05; done`],
        { cwd: s.dir, env: { ...process.env, STRATA_CACHE_DIR: join(s.dir, 'cache') }, stdio: ['pipe', 'pipe', 'pipe'] },
      )
      let stdout = ''
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
      await waitFor(child.stdout!, 'ready')
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
      process.kill(child.pid!, signal)
      expect(await exited).toBe(5)
      expect(stdout).toContain(`got ${signal}`)
      expect(await head('main')).toBe(before)
    })
  }

  it('a commit that loses a race keeps the program\'s database and reports the conflict', async () => {
    const other = `"${process.execPath}" "${BIN}" --store "${s.store}" sql main "INSERT INTO users (name) VALUES ('meanwhile')" -q`
    const r = await cli('exec', 'main', '--', 'sh', '-c', `sqlite3 "$STRATA_DB" "INSERT INTO users (name) VALUES ('mine')" && ${other}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('someone else committed')
    const kept = /its database is kept in (\S+\.kept\.sqlite)/.exec(r.stderr)?.[1]
    expect(kept, r.stderr).toBeDefined()
    expect(sqlite3(kept!, "SELECT count(*) FROM users WHERE name = 'mine';")).toBe('1\n')
    expect(sqlite3(await exported('main', 'raced.db'), "SELECT group_concat(name) FROM users WHERE name IN ('mine', 'meanwhile');")).toBe('meanwhile\n')
  })

  it('--create makes the branch (with --from and --ttl) and refuses an existing one', async () => {
    const r = await cli('exec', 'ci-42', '--create', '--from', 'main', '--ttl', '2h', '--json', '--', 'sqlite3', '{db}', 'CREATE TABLE ci (x)')
    expect(r.code, r.stderr).toBe(0)
    expect(doc(r)).toMatchObject({ branch: 'ci-42', created: true, changed: true })
    const list = json<{ branches: { name: string; expiresAt: string | null }[] }>(await cli('branch', 'list', '--json'))
    expect(Date.parse(list.branches.find((b) => b.name === 'ci-42')!.expiresAt!) - Date.now()).toBeGreaterThan(3600_000)
    const again = await cli('exec', 'ci-42', '--create', '--json', '--', 'true')
    expect(again.code).toBe(1)
    expect(jsonError(again).code).toBe('STRATA_BRANCH_EXISTS')
  })

  it('usage errors exit 2, a missing program 127, an unknown branch 1 — and nothing runs', async () => {
    const noCreate = await cli('exec', 'main', '--from', 'main', '--', 'true')
    expect(noCreate.code).toBe(2)
    expect(noCreate.stderr).toContain('--from')
    expect(noCreate.stderr).toContain('Try: strata exec --help')
    expect((await cli('exec', 'main', '--commit', '--discard', '--', 'true')).code).toBe(2)
    expect((await cli('exec', 'main')).code).toBe(2)
    const missing = await cli('exec', 'main', '--json', '--', 'no-such-program-here')
    expect(missing.code).toBe(127)
    expect(jsonError(missing)).toMatchObject({ code: 'STRATA_EXEC_FAILED', data: { program: 'no-such-program-here', errno: 'ENOENT' } })
    const unknown = await cli('exec', 'nope', '--', 'sh', '-c', 'echo ran')
    expect(unknown.code).toBe(1)
    expect(unknown.stdout).toBe('')
  })
})

describe('strata shell', () => {
  /** Run `strata shell` with `input` on stdin (no terminal: no question is asked). */
  function shell(input: string, ...args: string[]): Promise<CliRun> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, '--store', s.store, 'shell', ...args], { cwd: s.dir, env: { ...process.env, STRATA_CACHE_DIR: join(s.dir, 'cache') } })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
      child.stdin.end(input)
    })
  }

  it('runs the sqlite3 shell on the branch and commits on exit with --commit', async () => {
    const before = await head('main')
    const r = await shell("INSERT INTO users (name) VALUES ('from the shell');\nSELECT count(*) FROM users WHERE name = 'from the shell';\n", 'main', '--commit', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(json(r)).toMatchObject({ via: 'sqlite3', action: 'commit', changed: true, previous: before })
    expect(r.stderr).toContain('1\n')
  })

  it('the built-in prompt gathers lines into statements; without --commit and a terminal nothing is kept', async () => {
    const before = await head('main')
    const r = await shell('SELECT count(*)\n  FROM users;\n.tables\nDELETE FROM orders;\nSELECT count(*) AS left FROM orders;\n', 'main', '--builtin')
    expect(r.code, r.stderr).toBe(0)
    // Earlier tests of this file may have added tables; these two are there whatever ran before.
    expect(r.stdout).toMatch(/^orders\n(?:\w+\n)*users\n/m)
    expect(r.stdout).toMatch(/^left\n-+\n +0\n\(1 row\)$/m)
    expect(r.stderr).toContain('changes discarded; main stays at')
    expect(r.stderr).toContain('pass --commit to keep them')
    expect(await head('main')).toBe(before)
  })
})

/** Resolve once `stream` has printed `text`. */
function waitFor(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}; saw ${JSON.stringify(seen)}`)), 20_000)
    stream.on('data', (b: Buffer) => {
      seen += b.toString()
      if (seen.includes(text)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
}
