import { fstatSync, writeSync } from 'node:fs'

/** A stream the CLI writes text to. `isTTY` and `columns` decide whether progress bars are drawn. */
export type CliStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number }

/**
 * Where one CLI invocation reads its environment and writes its output. `run` never touches
 * `process.stdout`, `process.stderr` or `process.env` directly, so it can run in-process.
 */
export interface CliIo {
  /** Results: tables, summaries, or exactly one JSON document with `--json`. */
  stdout: CliStream
  /** Logs, progress bars and errors. */
  stderr: CliStream
  /** Environment variables (`STRATA_STORE`, `AWS_*`, …). */
  env: Readonly<Record<string, string | undefined>>
  /** What `-` reads (`strata import -`, `strata sql <branch> -`); absent when the caller provides no input. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

/** The real process's streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin }
}

const reported = new WeakSet<object>()

/**
 * A writer of binary output to `stream` that resolves once each chunk is handed to the OS and
 * rejects with the stream's error (a full disk behind a redirect, a closed pipe). Errors it
 * rejects with are marked, so the process-wide stdout error listener leaves them to the
 * command's own report ({@link isReportedWriteError}).
 */
export function binaryWriter(stream: CliStream): (chunk: Uint8Array) => Promise<void> {
  const fd = (stream as { fd?: unknown }).fd
  if (typeof fd === 'number' && fstatSync(fd).isFile()) {
    // Node writes to a redirected file with one writeSync per chunk and drops what a short write
    // (a disk filling up) did not take; write every byte, so a full disk is an error, not a short file.
    return async (chunk) => {
      try {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off)
      } catch (e) {
        if (typeof e === 'object' && e !== null) reported.add(e)
        throw e
      }
    }
  }
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      let drained = false
      let written = false
      const settle = (): void => {
        if (drained && written) resolve()
      }
      const ok = stream.write(chunk, (err?: Error | null) => {
        if (err) {
          reported.add(err)
          reject(err)
          return
        }
        written = true
        settle()
      })
      if (ok) drained = true
      else stream.once('drain', () => ((drained = true), settle()))
    })
}

/** True for an error a {@link binaryWriter} already handed to its caller. */
export function isReportedWriteError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && reported.has(e)
}
