// `npm run bench`: every figure of the performance table, each a ratio (or a bound) measured side
// by side in this run. Prints a table, writes bench-results/bench.json. Benchmarks are not tests.
// Usage: npm run bench [-- <bench>...]   (create, commit, export, materialize, switch, memory, sql, lazy, diff, merge;
// default all of these) — `npm run bench -- scale` runs the many-branch figures, which take minutes.
import { execSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchCommit } from './benches/commit.js'
import { benchCreate } from './benches/create.js'
import { benchDiff } from './benches/diff.js'
import { benchExport } from './benches/export.js'
import { benchLazy } from './benches/lazy.js'
import { benchMaterialize } from './benches/materialize.js'
import { benchMemory } from './benches/memory.js'
import { benchMerge } from './benches/merge.js'
import { benchScale } from './benches/scale.js'
import { benchSwitch } from './benches/switch.js'
import { benchSql } from './benches/sql.js'
import type { BenchContext } from './lib/context.js'
import { buildItemsDatabase } from './lib/data.js'
import { bytes, ms, type BenchRow } from './lib/measure.js'

const BENCHES: Record<string, (ctx: BenchContext) => Promise<BenchRow[]>> = {
  create: benchCreate,
  commit: benchCommit,
  export: benchExport,
  materialize: benchMaterialize,
  switch: benchSwitch,
  memory: benchMemory,
  sql: benchSql,
  lazy: benchLazy,
  diff: benchDiff,
  merge: benchMerge,
  scale: benchScale,
}

/** Benches that run only when named. */
const ON_REQUEST = new Set(['scale'])

const root = fileURLToPath(new URL('../..', import.meta.url))
const log = (line: string): void => void process.stderr.write(`  ${line}\n`)

async function main(): Promise<void> {
  const wanted = process.argv.slice(2)
  for (const w of wanted) if (!BENCHES[w]) throw new Error(`unknown bench ${w}; choose from ${Object.keys(BENCHES).join(', ')}`)
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHES).filter((b) => !ON_REQUEST.has(b))
  const base = process.env.STRATA_BENCH_DIR ?? tmpdir()
  log(`scratch space in ${base}: ${execSync(`df -h --output=avail "${base}" | tail -1`).toString().trim()} free (needs about 4 GiB)`)
  const loadBefore = loadavg()[0]!
  log(`load average ${loadBefore.toFixed(2)} on ${cpus().length} cores (other work on the machine skews timings)`)
  const work = await mkdtemp(join(base, 'strata-bench-'))
  const started = performance.now()
  const rows: BenchRow[] = []
  try {
    const dbs = join(work, 'databases')
    await mkdir(dbs)
    log('building SQLite databases of 256 MiB, 16 MiB and 1 MiB')
    const ctxBase = { db256: join(dbs, '256.sqlite'), db16: join(dbs, '16.sqlite'), db1: join(dbs, '1.sqlite'), log }
    const sizes = [buildItemsDatabase(ctxBase.db256, 256), buildItemsDatabase(ctxBase.db16, 16), buildItemsDatabase(ctxBase.db1, 1)]
    log(`  ${sizes.map(bytes).join(', ')}`)
    for (const name of names) {
      process.stderr.write(`${name}\n`)
      const dir = join(work, name)
      await mkdir(dir)
      const t0 = performance.now()
      rows.push(...(await BENCHES[name]!({ ...ctxBase, work: dir })))
      log(`done in ${ms(performance.now() - t0)}`)
      await rm(dir, { recursive: true, force: true })
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  print(rows)
  const out = join(root, 'bench-results', 'bench.json')
  await mkdir(join(root, 'bench-results'), { recursive: true })
  const doc = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: process.platform },
    loadAverage: { before: loadBefore, after: loadavg()[0]! },
    durationMs: Math.round(performance.now() - started),
    rows,
  }
  await writeFile(out, JSON.stringify(doc, null, 2) + '\n')
  process.stdout.write(`\n${rows.filter((r) => r.target && r.pass).length}/${rows.filter((r) => r.target).length} targets met in ${ms(doc.durationMs)} (load average ${loadBefore.toFixed(1)} → ${doc.loadAverage.after.toFixed(1)}); results in ${out}\n`)
  if (rows.some((r) => !r.pass)) process.exitCode = 1
}

function print(rows: BenchRow[]): void {
  const fmt = (r: BenchRow, v: number): string =>
    r.unit === '×' ? `${v < 10 ? v.toFixed(2) : v.toFixed(0)}×` : r.unit === 'B' ? bytes(v) : r.unit === 'ms' ? ms(v) : r.unit === 's' ? `${v.toFixed(2)} s` : r.unit === 'pages' ? `${v} pages` : r.unit === 'requests' ? `${v} requests` : `${v.toFixed(0)} MiB`
  const table = rows.map((r) => [
    r.bench,
    fmt(r, r.figure),
    r.target ? `${r.target.op === '<=' ? '≤' : '≥'} ${fmt(r, r.target.value)}` : '-',
    r.target ? (r.pass ? 'pass' : 'FAIL') : 'info',
    r.measured,
  ])
  const head = ['bench', 'figure', 'target', '', 'measured']
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')
  process.stdout.write('\n' + line(head) + '\n' + line(widths.map((w) => '-'.repeat(w))) + '\n')
  for (const t of table) process.stdout.write(line(t) + '\n')
}

await main()
