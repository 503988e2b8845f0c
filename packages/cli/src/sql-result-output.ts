import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CliStream } from './io.js'
import { OutputSink } from './output-sink.js'

/**
 * Where one run of a `strata sql` script writes its rows: straight to stdout, or — when the
 * script may run again (`--retry`) — to a spool file first, copied to stdout by {@link publish}
 * once the run that counts is known. Either way memory stays bounded.
 */
export class ResultOutput {
  /** What the result writer writes to. */
  readonly sink: OutputSink
  readonly #stdout: CliStream
  readonly #spool: { dir: string; file: WriteStream } | null

  private constructor(stdout: CliStream, spool: { dir: string; file: WriteStream } | null) {
    this.#stdout = stdout
    this.#spool = spool
    this.sink = new OutputSink(spool ? spool.file : stdout)
  }

  /** Output to `stdout`, through a spool file when `spool` is set. */
  static async open(stdout: CliStream, spool: boolean): Promise<ResultOutput> {
    if (!spool) return new ResultOutput(stdout, null)
    const dir = await mkdtemp(join(tmpdir(), 'strata-sql-'))
    return new ResultOutput(stdout, { dir, file: createWriteStream(join(dir, 'rows')) })
  }

  /**
   * The file descriptor rows may be written to directly, bypassing {@link sink} (after
   * `sink.settle()`): stdout's, when there is no spool file; else null.
   */
  get fd(): number | null {
    const fd = (this.#stdout as { fd?: unknown }).fd
    return !this.#spool && typeof fd === 'number' ? fd : null
  }

  /** Deliver everything written to stdout (stopping quietly if its reader has gone), and clean up. */
  async publish(): Promise<void> {
    await this.sink.flush()
    this.sink.dispose()
    if (!this.#spool) return
    try {
      await this.#closeSpool()
      const out = new OutputSink(this.#stdout)
      try {
        const rows = createReadStream(join(this.#spool.dir, 'rows'), { encoding: 'utf8' })
        for await (const chunk of rows) {
          out.write(chunk as string)
          await out.flush()
          if (out.closed) {
            rows.destroy()
            break
          }
        }
      } finally {
        out.dispose()
      }
    } finally {
      await rm(this.#spool.dir, { recursive: true, force: true })
    }
  }

  /** Drop what was written (a spool file is removed; what already reached stdout stays). */
  async discard(): Promise<void> {
    this.sink.dispose()
    if (!this.#spool) return
    await this.#closeSpool()
    await rm(this.#spool.dir, { recursive: true, force: true })
  }

  #closeSpool(): Promise<void> {
    const file = this.#spool!.file
    if (file.closed) return Promise.resolve()
    return new Promise((resolve, reject) => file.end((e?: Error | null) => (e ? reject(e) : resolve())))
  }
}
