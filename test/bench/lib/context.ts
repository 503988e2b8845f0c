/** What every benchmark gets from the runner. */
export interface BenchContext {
  /** A scratch directory of its own (removed by the runner afterwards). */
  work: string
  /** Real SQLite databases built once per run: about 256 MiB, 16 MiB and 1 MiB. */
  db256: string
  db16: string
  db1: string
  /** Progress lines on stderr. */
  log(line: string): void
}
