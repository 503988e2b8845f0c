import { CommanderError } from 'commander'
import { isStrataError, type ErrorCode, type FileProblem, type HintCode } from '@strata/core'
import { fileErrorFrom } from '@strata/core/engine'
import { CliError, type CliErrorCode } from './cli-error.js'
import { ExitCode } from './exit-codes.js'
import { toJson } from './json.js'

/** How one failure is reported: its exit code, its JSON form and its lines for people. */
export interface ErrorReport {
  exitCode: ExitCode
  /** The `error` member of the `--json` error document. */
  json: { code: string; message: string; data: Readonly<Record<string, unknown>>; hint?: string }
  /** What to print on stderr without `--json`. */
  lines: string[]
}

/** Every code the CLI can report: the engine's and its own. */
export type ReportedCode = ErrorCode | CliErrorCode

// Codes whose input is wrong rather than the world: the command did nothing and the caller
// should fix the command line.
const USAGE_CODES = new Set<string>(['STRATA_INVALID_NAME', 'STRATA_INVALID_ARGUMENT', 'STRATA_USAGE'] satisfies ReportedCode[])

// A path the user can fix on the command line is a usage error; a full disk or a reader that went away is not.
const OPERATIONAL_FILE_PROBLEMS = new Set<FileProblem>(['disk-full', 'closed'])

/** What to do about each problem of a `STRATA_FILE_ERROR`. */
const FILE_PROBLEM_HINTS: Record<FileProblem, string> = {
  missing: 'check the path (relative paths start at the current directory)',
  'missing-directory': 'create the directory first (mkdir -p), or give a path in an existing one',
  'not-a-directory': 'a file sits where a directory is expected; give a path whose every parent is a directory',
  'is-a-directory': 'give the path of a file, not of a directory',
  'permission-denied': 'choose a location you can write to, or fix its permissions',
  'read-only': 'choose a location on a writable file system',
  'disk-full': 'free space on that device (or choose another location) and run the command again',
  closed: 'the command reading the output exited early; check it (in scripts, set -o pipefail to see its failure)',
}

const TRY_SUFFICES = new Set<string>(['STRATA_USAGE', 'STRATA_INVALID_ARGUMENT'] satisfies ReportedCode[])

const DAMAGED = 'the store is damaged; run `strata verify --deep` to find every problem'

/** The hint printed for a code that carries no more specific one (only STRATA_INTERNAL means a bug). */
export const GENERIC_BUG_HINT = 'this is a bug; run again with STRATA_DEBUG=1 for a stack trace and report it'

/**
 * What to do next, for every code. Typed over every code, so a new code does not compile
 * without one. Shown unless the message already names the command to run.
 */
const HINTS: Record<ReportedCode, string> = {
  STRATA_MISSING_PAGE: DAMAGED,
  STRATA_MISSING_OBJECT: DAMAGED,
  STRATA_CORRUPT_PAGE: DAMAGED,
  STRATA_CORRUPT_OBJECT: DAMAGED,
  STRATA_CHECKSUM_MISMATCH: DAMAGED,
  STRATA_FALLBACK_CYCLE: DAMAGED,
  STRATA_UNSUPPORTED_FORMAT: 'upgrade strata to a version that reads this store',
  STRATA_CONFLICT: 'someone else changed the branch meanwhile; run the command again',
  STRATA_NOT_A_REPOSITORY: 'create one with `strata init`, or check --store (and $STRATA_STORE)',
  STRATA_REPOSITORY_EXISTS: 'the store is ready to use (try `strata branch list`), or choose another --store',
  STRATA_INVALID_NAME: 'choose a name like feature/login',
  STRATA_INVALID_KEY: 'object keys are built by strata; check the store location, or report the command that produced this key',
  STRATA_BRANCH_NOT_FOUND: 'list branches with `strata branch list`',
  STRATA_BRANCH_EXISTS: 'choose another name, or remove the old branch with `strata branch delete <name>`',
  STRATA_SNAPSHOT_NOT_FOUND: 'list branches with `strata branch list` and snapshots with `strata log <branch>`',
  STRATA_PROTECTED_BRANCH: '`main` is the root branch; create another branch with `strata branch create <name>`',
  STRATA_INVALID_DATABASE: 'check the file with `sqlite3 <file> "PRAGMA integrity_check"`',
  STRATA_INVALID_ARGUMENT: "see the command's --help for the accepted values",
  STRATA_MERGE_CONFLICT: 'resolve the listed conflicts on either branch and merge again, or pick a side for every conflict with --strategy ours|theirs; --dry-run shows them without committing',
  STRATA_MERGE_REFUSED: 'fix the rows SQLite names on either branch (strata sql), then merge again; --dry-run shows the merge without committing',
  STRATA_UPGRADE_REQUIRED: 'stop older strata versions writing to this store, then run `strata upgrade`',
  STRATA_STORE_NOT_ALLOWED: 'the branch stacks on a snapshot in another store: allow that store with --allow-store <url> (or STRATA_ALLOW_STORES); if it moved, run `strata repoint`',
  STRATA_STORE_ERROR: 'check the store location and permissions (for s3:// stores: the AWS_* environment, endpoint and credentials)',
  STRATA_ABORTED: 'the command was interrupted; run it again — nothing partial was kept',
  STRATA_UNCOMMITTED_CHANGES: 'commit the changes or discard them, then run the command again',
  STRATA_INVALID_STATE: 'finish or roll back the open work, then run the command again',
  STRATA_UNSAFE_STORE: 'check the store with `strata doctor`; pass --unsafe-no-cas only if a single writer will ever use it',
  STRATA_TAG_EXISTS: 'tags never move: delete it with `strata tag delete <name>` first, or choose another name',
  STRATA_TAG_NOT_FOUND: 'list tags with `strata tag list`',
  STRATA_USAGE: 'see the usage below',
  STRATA_SQL_ERROR: 'fix the statement and run the command again; nothing was committed',
  STRATA_INTEGRITY_CHECK_FAILED: DAMAGED,
  STRATA_EXEC_FAILED: 'check the program name and that it is executable (it runs with the branch database in $STRATA_DB)',
  STRATA_FILE_ERROR: 'check the path and its directory',
  STRATA_INTERNAL: GENERIC_BUG_HINT,
}

/**
 * What to do, for errors that carry a hint code (`hint`): the engine says what the caller may do
 * and the CLI names the flag that does it.
 */
const HINT_CODES: Record<HintCode, (data: Readonly<Record<string, unknown>>) => string> = {
  overwrite: () => 'pass --overwrite to replace it, or choose another path',
  force: () => 'pass --force if that is what you want',
  'allow-store': (d) => `allow it: --allow-store ${typeof d.url === 'string' ? d.url : '<url>'} (or add it to STRATA_ALLOW_STORES)`,
  'unsafe-no-cas': () => 'pass --unsafe-no-cas only if a single writer will ever use this store',
}

/**
 * Classify a failure: Commander's parse errors and invalid names or arguments are usage errors
 * (exit 2, with a `Try: strata <command> --help` line), `CliError`s carry their own exit code,
 * every other Strata error is operational (exit 1). A raw file-system error (a missing
 * directory, no permission, a full disk) becomes `STRATA_FILE_ERROR`. Anything else is
 * reported as `STRATA_INTERNAL` (exit 1); its stack is printed when `debug` is set.
 */
export function reportError(e: unknown, commandPath: string, debug = false): ErrorReport {
  let code: string
  let message: string
  let data: Readonly<Record<string, unknown>> = {}
  let exitCode: ExitCode
  let hint: string | undefined
  // A raw file-system error that no layer translated still names its path and what to do.
  const rawPath = e instanceof Error ? (e as NodeJS.ErrnoException).path : undefined
  if (!isStrataError(e) && !(e instanceof CliError) && typeof rawPath === 'string') e = fileErrorFrom(e, rawPath) ?? e
  if (e instanceof CommanderError) {
    code = 'STRATA_USAGE'
    // `commander.help` means a command group was called without a subcommand; its help is already on stderr.
    message = e.code === 'commander.help' ? 'a subcommand is required (see the list above)' : e.message.replace(/^error:\s*/, '')
    data = { reason: e.code }
    exitCode = ExitCode.usage
  } else if (e instanceof CliError) {
    ;({ code, message, data, exitCode } = e)
    hint = e.hint
  } else if (isStrataError(e)) {
    code = e.code
    message = e.message
    data = (e as { data?: Record<string, unknown> }).data ?? {}
    exitCode =
      USAGE_CODES.has(code) || (code === 'STRATA_FILE_ERROR' && !OPERATIONAL_FILE_PROBLEMS.has(data.problem as FileProblem)) ? ExitCode.usage : ExitCode.failure
    const hinted = (e as { hint?: unknown }).hint
    if (typeof hinted === 'string' && hinted in HINT_CODES) hint = HINT_CODES[hinted as HintCode](data)
    // A store that failed on a local file: say what was wrong with it, not only "check permissions".
    const cause = (e as { cause?: unknown }).cause
    const fileCause = cause instanceof Error ? fileErrorFrom(cause, (cause as NodeJS.ErrnoException).path ?? '') : null
    if (!hint && fileCause) hint = FILE_PROBLEM_HINTS[fileCause.data.problem]
  } else {
    code = 'STRATA_INTERNAL'
    message = e instanceof Error ? e.message : String(e)
    exitCode = ExitCode.failure
  }
  if (code === 'STRATA_FILE_ERROR') hint = FILE_PROBLEM_HINTS[data.problem as FileProblem] ?? hint
  // Engine messages often name the command to run next already; a second hint would only repeat it.
  // For a bad command line the Try line says what to do; a generic hint before it would only repeat it.
  if (!hint && !/`strata /.test(message) && !TRY_SUFFICES.has(code)) hint = HINTS[code as ReportedCode] ?? GENERIC_BUG_HINT
  const lines = [`strata: ${message}`]
  if (hint) lines.push(`hint: ${hint}`)
  if (exitCode === ExitCode.usage) lines.push(`Try: ${commandPath} --help`)
  if (debug && e instanceof Error && e.stack) lines.push(e.stack)
  return { exitCode, json: { code, message, data: JSON.parse(toJson(data, 0)) as Record<string, unknown>, ...(hint ? { hint } : {}) }, lines }
}
