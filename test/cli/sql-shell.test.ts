import { spawnSync } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { assertBuilt, json, jsonError, strata, type CliRun } from './helpers.js'

// A differential test of `strata sql` against the sqlite3 shell as an independent oracle: each
// script of the corpus runs on a branch through the spawned CLI and on a plain copy of the same
// file through `sqlite3`; the rows printed (`--json` vs `sqlite3 -json`) and the resulting
// databases (sqldiff, schema, page_count, freelist_count, integrity_check) must agree.
//
// Versions: the shell is Debian's (SQLite 3.40), strata runs better-sqlite3's bundled SQLite,
// which is newer and built with other options. Where that legitimately changes a result, the
// corpus entry says so (`except`). Deliberate differences of strata are tested at the end.

const PAGE_SIZES = [512, 4096, 65536] as const
const AUTO_VACUUM = ['none', 'full', 'incremental'] as const

interface Config {
  pageSize: (typeof PAGE_SIZES)[number]
  autoVacuum: (typeof AUTO_VACUUM)[number]
}

const CONFIGS: Config[] = PAGE_SIZES.flatMap((pageSize) => AUTO_VACUUM.map((autoVacuum) => ({ pageSize, autoVacuum })))
const configName = (c: Config): string => `${c.pageSize}-${c.autoVacuum}`

interface Script {
  name: string
  sql: string
  /** The configurations to run on (default: one, chosen by position in the corpus). */
  configs?: Config[]
  /** Tables left out of the comparison, and why; page and freelist counts are then not compared. */
  except?: { tables: string[]; why: string }
}

const SCRIPTS: Script[] = [
  {
    name: 'incremental-vacuum',
    configs: CONFIGS,
    sql: `DELETE FROM t WHERE id % 3 = 0;
PRAGMA incremental_vacuum;
INSERT INTO t (v, s) VALUES (zeroblob(70000), 'big');
SELECT count(*) AS n, sum(length(v)) AS bytes FROM t;
DELETE FROM t WHERE id % 5 = 0;
PRAGMA incremental_vacuum(3);
SELECT count(*) AS n FROM t;`,
  },
  {
    name: 'vacuum',
    sql: `DELETE FROM t WHERE id > 100; VACUUM; SELECT count(*) AS n, max(id) AS top FROM t;`,
  },
  {
    name: 'vacuum-to-another-auto-vacuum-mode',
    sql: `PRAGMA auto_vacuum = INCREMENTAL; VACUUM; DELETE FROM t WHERE id % 2 = 0; PRAGMA incremental_vacuum(10); PRAGMA auto_vacuum;`,
  },
  {
    name: 'triggers-and-returning',
    sql: `CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT);
CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log (what) VALUES ('ins ' || new.id); END;
CREATE TRIGGER t_del AFTER DELETE ON t BEGIN INSERT INTO log (what) VALUES ('del ' || old.id); END;
CREATE TRIGGER t_upd BEFORE UPDATE OF s ON t WHEN new.s = 'X' BEGIN SELECT RAISE(IGNORE); END;
INSERT INTO t (v, s) VALUES (x'01', 'a'), (x'02', 'b') RETURNING id, s;
DELETE FROM t WHERE id <= 3 RETURNING id, length(v) AS len;
UPDATE t SET s = upper(s) WHERE id BETWEEN 10 AND 12 RETURNING id, s;
UPDATE t SET s = 'X' WHERE id = 20;
SELECT id, what FROM log ORDER BY id;
SELECT s FROM t WHERE id = 20;
CREATE TABLE chain (n INTEGER);
CREATE TRIGGER chain_next AFTER INSERT ON chain WHEN new.n < 5 BEGIN INSERT INTO chain VALUES (new.n + 1); END;
INSERT INTO chain VALUES (1);
SELECT count(*) AS recursed FROM chain;`,
  },
  {
    name: 'recursive-cte',
    sql: `WITH RECURSIVE fib(a, b, n) AS (SELECT 0, 1, 1 UNION ALL SELECT b, a + b, n + 1 FROM fib WHERE n < 60) SELECT n, a FROM fib;
CREATE TABLE tree (id INTEGER PRIMARY KEY, parent INTEGER);
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 500) INSERT INTO tree SELECT i, i / 2 FROM k;
WITH RECURSIVE anc(id, depth) AS (SELECT 437, 0 UNION ALL SELECT tree.parent, depth + 1 FROM tree JOIN anc ON tree.id = anc.id WHERE tree.parent > 0)
SELECT id, depth FROM anc;`,
  },
  {
    name: 'begin-commit-savepoints',
    sql: `BEGIN;
DELETE FROM t WHERE id % 2 = 0;
SAVEPOINT sp1;
UPDATE t SET s = 'gone';
ROLLBACK TO sp1;
RELEASE sp1;
SAVEPOINT sp2;
INSERT INTO t (v, s) VALUES (zeroblob(5000), 'sp2');
RELEASE sp2;
COMMIT;
SELECT count(*) AS n, sum(s = 'gone') AS gone FROM t;
SAVEPOINT outer_sp;
DELETE FROM t WHERE id < 50;
SAVEPOINT inner_sp;
DELETE FROM t;
ROLLBACK TO inner_sp;
RELEASE outer_sp;
SELECT count(*) AS n FROM t;`,
  },
  {
    name: 'temp-tables',
    sql: `CREATE TEMP TABLE scratch AS SELECT id, s FROM t WHERE id < 20;
DELETE FROM t WHERE id IN (SELECT id FROM scratch);
INSERT INTO t (s) SELECT s || '!' FROM scratch;
SELECT count(*) AS n FROM temp.scratch;
SELECT id, s FROM t WHERE s LIKE '%!' ORDER BY id;`,
  },
  {
    name: 'alter-table',
    sql: `ALTER TABLE t RENAME TO t2;
ALTER TABLE t2 RENAME COLUMN s TO label;
ALTER TABLE t2 ADD COLUMN extra INTEGER DEFAULT 7;
ALTER TABLE t2 DROP COLUMN v;
SELECT * FROM t2 WHERE id < 4;`,
  },
  {
    name: 'without-rowid-strict-generated',
    sql: `CREATE TABLE kv (k TEXT PRIMARY KEY, val INTEGER) WITHOUT ROWID;
INSERT INTO kv SELECT 'k' || id, id * 3 FROM t WHERE id < 700;
CREATE TABLE st (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, name TEXT,
  full TEXT GENERATED ALWAYS AS (name || '#' || n) VIRTUAL,
  twice INTEGER GENERATED ALWAYS AS (n * 2) STORED) STRICT;
INSERT INTO st (n, name) SELECT id, s FROM t WHERE id < 300;
DELETE FROM kv WHERE val % 2 = 0;
UPDATE st SET n = n + 1000 WHERE id % 7 = 0;
SELECT k, val FROM kv ORDER BY k LIMIT 5;
SELECT id, full, twice FROM st WHERE id IN (1, 7, 14) ORDER BY id;`,
  },
  {
    name: 'analyze',
    sql: `CREATE INDEX t_s ON t (s); ANALYZE; SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx;`,
    except: {
      tables: ['sqlite_stat4'],
      why: "better-sqlite3's SQLite is built with SQLITE_ENABLE_STAT4, Debian's shell is not: ANALYZE fills sqlite_stat4 only on strata's side",
    },
  },
]

/** The runs: every script on its configurations (by default one, rotating through all nine). */
const RUNS = SCRIPTS.flatMap((s, i) => (s.configs ?? [CONFIGS[(i * 4) % CONFIGS.length]!]).map((config) => ({ script: s, config, branch: `${s.name}-${configName(config)}` })))

let dir = ''
let store = ''
const sqlite3 = (db: string, args: string[], input: string): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('sqlite3', ['-bail', ...args, db], { input, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
const cli = (...args: string[]): Promise<CliRun> => strata(['--store', store, ...args], { cwd: dir, env: { STRATA_CACHE_DIR: join(dir, 'cache') } })

/** A base database of a few dozen to a few thousand pages, in rollback-journal mode. */
function makeBase(path: string, c: Config): void {
  const db = new Database(path)
  db.pragma(`page_size = ${c.pageSize}`)
  db.pragma(`auto_vacuum = ${c.autoVacuum}`)
  db.pragma('journal_mode = DELETE')
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, s TEXT);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
    INSERT INTO t (v, s) SELECT zeroblob(100 + (i * 37) % 400), 'item ' || i FROM n;`)
  db.close()
}

/** Every result set `sqlite3 -json` printed (it prints one array per statement that returned rows), as rows of values. */
function shellResults(stdout: string): unknown[][][] {
  const out: unknown[][][] = []
  let pending = ''
  for (const line of stdout.split('\n')) {
    pending += line + '\n'
    if (!line.endsWith(']')) continue
    try {
      out.push((JSON.parse(pending) as Record<string, unknown>[]).map((o) => Object.values(o)))
      pending = ''
    } catch {
      // A row whose text ends with `]`: the array goes on.
    }
  }
  expect(pending.trim()).toBe('')
  return out
}

/**
 * False for the "rows" the shell prints for a statement without result columns: `PRAGMA
 * incremental_vacuum` returns one empty row per page it frees, and `sqlite3 -json` prints each
 * as `{}`. strata prints results of statements with columns only (a deliberate difference).
 */
const hasColumns = (rows: unknown[][]): boolean => !rows.every((r) => r.length === 0)

/** Facts about a database file that must agree. */
function facts(path: string, except: readonly string[]): { schema: unknown[]; pageCount?: number; freelist?: number; integrity: string; autoVacuum: number; pageSize: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const schema = (db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name').all() as { name: string }[]).filter((r) => !except.includes(r.name))
    return {
      schema,
      ...(except.length === 0 ? { pageCount: db.pragma('page_count', { simple: true }) as number, freelist: db.pragma('freelist_count', { simple: true }) as number } : {}),
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      autoVacuum: db.pragma('auto_vacuum', { simple: true }) as number,
      pageSize: db.pragma('page_size', { simple: true }) as number,
    }
  } finally {
    db.close()
  }
}

/** `sqldiff` of two files, restricted to the tables both should have: empty output means equal content. */
function sqldiff(a: string, b: string, except: readonly string[]): string {
  const tables = except.length === 0 ? [null] : (facts(a, except).schema as { type: string; name: string }[]).filter((r) => r.type === 'table').map((r) => r.name)
  let out = ''
  for (const t of tables) {
    const r = spawnSync('sqldiff', [...(t ? ['--table', t] : []), a, b], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    out += r.stdout
  }
  return out
}

beforeAll(async () => {
  assertBuilt()
  for (const tool of ['sqlite3', 'sqldiff']) {
    // sqldiff has no --version; `--help` exits 0 where it is installed.
    if (spawnSync(tool, [tool === 'sqldiff' ? '--help' : '--version']).status !== 0) throw new Error(`${tool} is not installed: install Debian's sqlite3 and sqlite3-tools (see .ci/run)`)
  }
  dir = await mkdtemp(join(tmpdir(), 'strata-sql-shell-'))
  store = join(dir, 'store')
  const repo = await Repository.init(new LocalStore(store))
  for (const c of CONFIGS) makeBase(join(dir, `base-${configName(c)}.db`), c)
  for (const run of RUNS) await repo.importDatabase(join(dir, `base-${configName(run.config)}.db`), { branch: run.branch })
  await repo.close?.()
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('strata sql agrees with the sqlite3 shell', () => {
  it(`on ${RUNS.length} runs of ${SCRIPTS.length} scripts over page sizes ${PAGE_SIZES.join('/')} × auto_vacuum ${AUTO_VACUUM.join('/')}`, async () => {
    // The spawned CLI runs three at a time: every run has a branch of its own.
    const runs = [...RUNS]
    const outputs = new Map<string, CliRun>()
    await Promise.all(
      [0, 1, 2].map(async () => {
        for (let run = runs.shift(); run; run = runs.shift()) {
          const file = join(dir, `${run.branch}.sql`)
          writeFileSync(file, run.script.sql)
          outputs.set(run.branch, await cli('sql', run.branch, '-f', file, '--json'))
        }
      }),
    )
    const repo = await Repository.open(new LocalStore(store))
    for (const run of RUNS) {
      const label = `${run.script.name} on ${configName(run.config)}`
      const r = outputs.get(run.branch)!
      expect(r.code, `${label}: ${r.stderr}`).toBe(0)
      const ours = json<{ results: { rows: unknown[][] }[] }>(r).results.filter((x) => x.rows.length > 0) // sqlite3 -json prints nothing for an empty result
      const copy = join(dir, `${run.branch}.shell.db`)
      copyFileSync(join(dir, `base-${configName(run.config)}.db`), copy)
      const shell = sqlite3(copy, ['-json'], run.script.sql)
      expect(shell.status, `${label}: ${shell.stderr}`).toBe(0)
      expect(ours.map((x) => x.rows), label).toEqual(shellResults(shell.stdout).filter(hasColumns))

      const exported = join(dir, `${run.branch}.strata.db`)
      await repo.export(run.branch, exported)
      const except = run.script.except?.tables ?? []
      expect(sqldiff(exported, copy, except), label).toBe('')
      const f = facts(exported, except)
      expect(f, label).toEqual(facts(copy, except))
      expect(f.integrity, label).toBe('ok')
    }
    await repo.close?.()
  })

  it('the corpus holds every feature the shell must agree on', () => {
    const all = SCRIPTS.map((s) => s.sql).join('\n')
    for (const feature of [
      /PRAGMA incremental_vacuum;/,
      /PRAGMA incremental_vacuum\(\d+\)/,
      /\bVACUUM;/,
      /CREATE TRIGGER/,
      /RETURNING/,
      /WITH RECURSIVE/,
      /BEGIN;[\s\S]*COMMIT;/,
      /SAVEPOINT[\s\S]*RELEASE/,
      /CREATE TEMP TABLE/,
      /ALTER TABLE \w+ RENAME TO/,
      /DROP COLUMN/,
      /WITHOUT ROWID/,
      /\) STRICT/,
      /GENERATED ALWAYS/,
      /\bANALYZE;/,
    ]) {
      expect(all).toMatch(feature)
    }
    expect(new Set(RUNS.map((r) => configName(r.config))).size).toBe(9)
  })
})

describe('where strata sql deliberately differs from the shell, it says so', () => {
  const FK = `CREATE TABLE parent (id INTEGER PRIMARY KEY);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
INSERT INTO child (parent_id) VALUES (42);
SELECT count(*) AS n FROM child;`

  it('foreign keys are on by default: the failure names the flag; --foreign-keys off then agrees with the shell', async () => {
    const branch = RUNS[0]!.branch
    const refused = await cli('sql', branch, FK, '--json')
    expect(refused.code).toBe(1)
    expect(jsonError(refused)).toMatchObject({ code: 'STRATA_SQL_ERROR', data: { statement: 3, sqliteCode: 'SQLITE_CONSTRAINT_FOREIGNKEY' } })
    expect(JSON.parse(refused.stderr).error.hint).toMatch(/enforces foreign keys by default, unlike the sqlite3 shell; --foreign-keys off/)
    const human = await cli('sql', branch, FK)
    expect(human.stderr).toMatch(/FOREIGN KEY constraint failed[\s\S]*\nhint: .*--foreign-keys off/)

    const copy = join(dir, 'fk.shell.db')
    copyFileSync(join(dir, `base-${configName(RUNS[0]!.config)}.db`), copy)
    const shell = sqlite3(copy, ['-json'], FK)
    expect(shell.status).toBe(0)
    const off = await cli('sql', branch, FK, '--foreign-keys', 'off', '--json')
    expect(off.code, off.stderr).toBe(0)
    expect(json<{ results: { rows: unknown[][] }[] }>(off).results.map((x) => x.rows)).toEqual(shellResults(shell.stdout))
  })

  it('double-quoted text is an identifier (a build option of its SQLite): the error says so', async () => {
    const r = await cli('sql', RUNS[0]!.branch, 'SELECT "hello" AS greeting')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no such column: "?hello[\s\S]*\nhint: "hello" is an identifier here: .*double-quoted string literals .*write 'hello'/)
    expect(sqlite3(':memory:', [], 'SELECT "hello";').stdout).toBe('hello\n')
  })

  it('ATTACH and dot-commands are refused before anything runs, with the reason', async () => {
    const branch = RUNS[0]!.branch
    const attach = await cli('sql', branch, `DELETE FROM t; ATTACH '${join(dir, 'other.db')}' AS other`, '--json')
    expect(attach.code).toBe(2)
    expect(jsonError(attach).message).toMatch(/statement 2 .*ATTACH is not supported .*commits the branch's own database only.*nothing was run/)
    const dot = await cli('sql', branch, '.tables')
    expect(dot.code).toBe(2)
    expect(dot.stderr).toMatch(/sqlite3 shell dot-command, not SQL/)
    const count = json<{ results: { rows: unknown[][] }[] }>(await cli('sql', branch, 'SELECT count(*) FROM t', '--json'))
    expect(count.results[0]!.rows[0]![0]).toBeGreaterThan(0)
  })
})
