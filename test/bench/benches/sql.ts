import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { LocalStore, Repository } from '@strata/core'
import type { BenchContext } from '../lib/context.js'
import { MiB } from '../lib/data.js'
import { bytes, median, ms, row, sideBySide, type BenchRow } from '../lib/measure.js'

const ROWS = 1_000_000
const RUNS = 3
const STARTUP_RUNS = 5
const QUERY = 'SELECT id, name, version FROM packages'
const BIN = fileURLToPath(new URL('../../../packages/cli/bin/strata.js', import.meta.url))
const BUNDLE = fileURLToPath(new URL('../../../packages/cli/bundle/strata.js', import.meta.url))
const PEAK = fileURLToPath(new URL('../../cli/support/report-peak.mjs', import.meta.url))

const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`

/**
 * 1M rows printed by `strata sql` (CSV, JSON lines and the table, output to /dev/null) vs the
 * sqlite3 shell on the same database file: time (whole command, startup and reading the branch
 * included) and the CLI's peak RSS above an idle `strata sql … "SELECT 1"`; and the CLI's
 * startup: `strata --version`, and a one-row `strata sql`.
 */
export async function benchSql(ctx: BenchContext): Promise<BenchRow[]> {
  if (!existsSync(BUNDLE)) throw new Error('packages/cli/bundle/strata.js is missing: run `npm run build` first')
  const db = join(ctx.work, 'packages.sqlite')
  ctx.log(`sql: building a ${ROWS.toLocaleString('en')}-row table and importing it`)
  const d = new Database(db)
  d.pragma('journal_mode = DELETE')
  d.exec(`CREATE TABLE packages (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
    INSERT INTO packages SELECT i, 'package-' || i || '-' || hex(randomblob(4)), (i % 9) || '.' || (i % 31) || '.' || (i % 97) FROM n;`)
  d.close()
  const store = join(ctx.work, 'store')
  const repo = await Repository.init(new LocalStore(store))
  const imported = await repo.importDatabase(db)
  await repo.close()
  const env: NodeJS.ProcessEnv = { ...process.env, STRATA_CACHE_DIR: join(ctx.work, 'cache') }
  delete env.STRATA_STORE
  const sh = (command: string): Promise<unknown> => promisify(execFile)('/bin/sh', ['-c', command], { env, maxBuffer: 1 << 20 })
  const strata = (args: readonly string[], reportPeak = false): string =>
    [process.execPath, ...(reportPeak ? ['--import', PEAK] : []), BIN, '--store', store, 'sql', 'main', ...args, '-q'].map(quote).join(' ')
  const shell = (mode: readonly string[], sql = QUERY): string => ['sqlite3', ...mode, db, sql].map(quote).join(' ')

  const rows: BenchRow[] = []
  // The shell's closest mode to each format: csv and -csv -header print the same bytes, jsonl
  // and -json the same objects; the table is aligned columns in both (-column sizes them from
  // every row, strata from the first rows).
  for (const [format, mode] of [['csv', ['-csv', '-header']], ['jsonl', ['-json']], ['table', ['-column', '-header']]] as const) {
    ctx.log(`sql: ${RUNS} runs of strata sql --format ${format} and sqlite3 ${mode.join(' ')}, interleaved, output to /dev/null`)
    await sh(`${strata([QUERY, '--format', format])} > /dev/null`) // warm the page cache and the CLI's caches
    const t = await sideBySide(
      RUNS,
      () => sh(`${strata([QUERY, '--format', format])} > /dev/null`),
      () => sh(`${shell(mode)} > /dev/null`),
    )
    const ours = median(t.a)
    const theirs = median(t.b)
    rows.push(
      row({
        bench: `sql ${format}`,
        what: `strata sql --format ${format} vs sqlite3 ${mode.join(' ')}: ${ROWS.toLocaleString('en')} rows of a ${bytes(imported.bytes)} database`,
        measured: `${ms(ours)} vs ${ms(theirs)} (median of ${RUNS}; strata's time includes startup and reading the branch)`,
        figure: ours / theirs,
        unit: '×',
        target: { op: '<=', value: 2 },
        detail: { rows: ROWS, strataMs: t.a, shellMs: t.b, databaseBytes: imported.bytes },
      }),
    )
  }

  ctx.log(`sql: startup, ${STARTUP_RUNS} runs each: strata --version vs node -e 0, and a one-row strata sql vs sqlite3`)
  const version = await sideBySide(
    STARTUP_RUNS,
    () => sh(`${[process.execPath, BIN, '--version'].map(quote).join(' ')} > /dev/null`),
    () => sh(`${[process.execPath, '-e', '0'].map(quote).join(' ')} > /dev/null`),
  )
  rows.push(
    row({
      bench: 'sql startup --version',
      what: 'strata --version: the CLI process start, vs node -e 0 (a bare Node process)',
      measured: `${ms(median(version.a))} vs ${ms(median(version.b))} (median of ${STARTUP_RUNS})`,
      figure: median(version.a),
      unit: 'ms',
      detail: { strataMs: version.a, nodeMs: version.b },
    }),
  )
  const point = `SELECT id, name, version FROM packages WHERE id = ${ROWS / 2}`
  const oneRow = await sideBySide(
    STARTUP_RUNS,
    () => sh(`${strata([point])} > /dev/null`),
    () => sh(`${shell(['-header'], point)} > /dev/null`),
  )
  rows.push(
    row({
      bench: 'sql startup one row',
      what: `strata sql "${point}" (lazy: startup, open, fetch a few pages) vs sqlite3 on the file`,
      measured: `${ms(median(oneRow.a))} vs ${ms(median(oneRow.b))} (median of ${STARTUP_RUNS})`,
      figure: median(oneRow.a),
      unit: 'ms',
      detail: { strataMs: oneRow.a, shellMs: oneRow.b },
    }),
  )

  ctx.log('sql: peak RSS of strata sql (csv, jsonl, table, --json) vs an idle strata sql "SELECT 1"')
  // Through the shell: Linux carries a process's peak RSS across execve, so a child spawned
  // straight from this (large) process would report this process's peak as its own.
  const peak = async (args: readonly string[]): Promise<number> => {
    const file = join(ctx.work, 'peak')
    await sh(`STRATA_TEST_PEAK_FILE=${quote(file)} ${strata(args, true)} > /dev/null`)
    return Number(readFileSync(file, 'utf8')) * 1024
  }
  const idle = await peak(['SELECT 1'])
  const shellPeak = await shellRss(sh, shell(['-csv', '-header']), join(ctx.work, 'shell-rss'))
  for (const [label, args] of [
    ['csv', ['--format', 'csv']],
    ['jsonl', ['--format', 'jsonl']],
    ['table', []],
    ['--json', ['--json']],
  ] as const) {
    const p = await peak([QUERY, ...args])
    rows.push(
      row({
        bench: `sql rss ${label}`,
        what: `peak RSS of strata sql ${label} over ${ROWS.toLocaleString('en')} rows, above an idle strata sql`,
        measured: `${bytes(p)} vs idle ${bytes(idle)}${shellPeak === null ? '' : ` (sqlite3 -csv -header: ${bytes(shellPeak)})`}`,
        figure: (p - idle) / MiB,
        unit: 'MiB',
        target: { op: '<=', value: 128 },
        detail: { peakBytes: p, idlePeakBytes: idle, shellPeakBytes: shellPeak },
      }),
    )
  }
  return rows
}

/** The sqlite3 shell's peak RSS through GNU time (`%M`, KiB), or null where /usr/bin/time is missing. */
async function shellRss(sh: (c: string) => Promise<unknown>, command: string, out: string): Promise<number | null> {
  if (!existsSync('/usr/bin/time')) return null
  await sh(`/usr/bin/time -f %M -o ${quote(out)} ${command} > /dev/null`)
  return Number(readFileSync(out, 'utf8').trim()) * 1024
}
