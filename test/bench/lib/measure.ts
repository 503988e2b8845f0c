import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'

/** Milliseconds `fn` takes. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/**
 * Time `a` and `b` `runs` times each, interleaved (a, b, b, a, …) so that drift (page cache, CPU
 * frequency, other load) affects both alike. `between` runs untimed after every run (cleanup).
 */
export async function sideBySide(
  runs: number,
  a: () => unknown,
  b: () => unknown,
  between: () => unknown = () => {},
): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] }
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)
    for (const which of order) {
      out[which].push(await timeMs(which === 'a' ? a : b))
      await between()
    }
  }
  return out
}

/** `n` bytes as a short human string. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Milliseconds as a short human string. */
export function ms(n: number): string {
  return n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(1)} ms` : `${(n / 1000).toFixed(2)} s`
}

/** One line of the results: a figure measured side by side, and its target. */
export interface BenchRow {
  /** Short name, as in the table. */
  bench: string
  /** What was compared. */
  what: string
  /** The two sides, human-readable (`256 MiB: 4.1 ms vs 1 MiB: 3.9 ms`). */
  measured: string
  /** The figure the target applies to. */
  figure: number
  /** How {@link figure} is shown (`×` ratio, or a unit). */
  unit: '×' | 'B' | 'MiB' | 'ms' | 's' | 'pages' | 'requests'
  /** The target, e.g. `{ op: '<=', value: 1.5 }`; none for a figure reported for information. */
  target?: { op: '<=' | '>='; value: number }
  pass: boolean
  /** Raw measurements for the JSON. */
  detail: Record<string, unknown>
}

/** Build a row, deciding pass/fail from the target. */
export function row(r: Omit<BenchRow, 'pass'>): BenchRow {
  const pass = !r.target || (r.target.op === '<=' ? r.figure <= r.target.value : r.figure >= r.target.value)
  return { ...r, pass }
}

/**
 * Flush the page cache's dirty data to disk. Run before timing anything that fsyncs: on ext4 an
 * fsync waits for the writeback of earlier bulk writes (a fresh import), which would otherwise
 * be measured as noise of tens to hundreds of milliseconds.
 */
export function settle(): void {
  spawnSync('sync')
}
