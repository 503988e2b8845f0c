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
