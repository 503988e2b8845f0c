import { ExitCode } from './exit-codes.js'

/**
 * Every stable code of the errors the CLI itself raises (the engine's own codes are
 * `@strata/core`'s `ErrorCode`). Never renamed; new ones may be added.
 */
export const CLI_ERROR_CODES = [
  /** The command line could not be parsed: unknown option or command, missing argument. */
  'STRATA_USAGE',
  /** SQLite rejected a statement of `strata sql`; nothing was committed. */
  'STRATA_SQL_ERROR',
  /** `export --check`: the written file failed `PRAGMA integrity_check`. */
  'STRATA_INTEGRITY_CHECK_FAILED',
  /** `exec` could not start its program (not found: exit 127; not executable: exit 126). */
  'STRATA_EXEC_FAILED',
  /** Something failed that Strata did not anticipate (a bug, or an error from the runtime). */
  'STRATA_INTERNAL',
] as const

/** One of {@link CLI_ERROR_CODES}. */
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number]

/**
 * An error raised by the CLI layer, with a stable `code`, the exit code it maps to and the
 * fields a script needs in `data`. Serialises like core's `StrataError` (`toJSON()`).
 */
export class CliError extends Error {
  readonly code: CliErrorCode
  readonly data: Readonly<Record<string, unknown>>
  readonly exitCode: ExitCode
  /** What to do next, printed as the `hint:` line (and `hint` in JSON); none when undefined. */
  readonly hint: string | undefined

  constructor(code: CliErrorCode, message: string, opts: { data?: Record<string, unknown>; exitCode?: ExitCode; cause?: unknown; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'CliError'
    this.code = code
    this.data = opts.data ?? {}
    this.exitCode = opts.exitCode ?? ExitCode.failure
    this.hint = opts.hint
  }

  /** `{ name, code, message, data }`, as core's errors. */
  toJSON(): { name: string; code: CliErrorCode; message: string; data: Readonly<Record<string, unknown>> } {
    return { name: this.name, code: this.code, message: this.message, data: this.data }
  }
}
