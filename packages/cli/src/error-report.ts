import { CommanderError } from 'commander'
import { isStrataError } from '@strata/core'
import { CliError } from './cli-error.js'
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

// Codes whose input is wrong rather than the world: the command did nothing and the caller
// should fix the command line.
const USAGE_CODES = new Set(['STRATA_INVALID_NAME', 'STRATA_INVALID_ARGUMENT', 'STRATA_USAGE'])

// What to do next, for engine errors whose message does not already say.
const HINTS: Record<string, string> = {
  STRATA_REPOSITORY_EXISTS: 'the store is ready to use (try `strata branch list`), or choose another --store',
  STRATA_PROTECTED_BRANCH: '`main` is the root branch; create another branch with `strata branch create <name>`',
  STRATA_BRANCH_EXISTS: 'choose another name, or remove the old branch with `strata branch delete <name>`',
  STRATA_SNAPSHOT_NOT_FOUND: 'list branches with `strata branch list` and snapshots with `strata log <branch>`',
  STRATA_CONFLICT: 'someone else changed the branch meanwhile; run the command again',
  STRATA_STORE_ERROR: 'check the store location and permissions (for s3:// stores: the AWS_* environment, endpoint and credentials)',
  STRATA_MISSING_PAGE: 'the store is damaged; run `strata verify --deep` to find every problem',
  STRATA_MISSING_OBJECT: 'the store is damaged; run `strata verify --deep` to find every problem',
  STRATA_CORRUPT_PAGE: 'the store is damaged; run `strata verify --deep` to find every problem',
  STRATA_CORRUPT_OBJECT: 'the store is damaged; run `strata verify --deep` to find every problem',
  STRATA_CHECKSUM_MISMATCH: 'the store is damaged; run `strata verify --deep` to find every problem',
  STRATA_UNSUPPORTED_FORMAT: 'upgrade strata to a version that reads this store',
  STRATA_STORE_NOT_ALLOWED: 'the branch stacks on a snapshot in another store: allow that store with --allow-store <url> (or STRATA_ALLOW_STORES); if it moved, run `strata repoint`',
  STRATA_UNSAFE_STORE: 'check the store with `strata doctor`; pass --unsafe-no-cas only if a single writer will ever use it',
  STRATA_INTERNAL: 'this is a bug; run again with STRATA_DEBUG=1 for a stack trace and report it',
}

/**
 * Classify a failure: Commander's parse errors and invalid names or arguments are usage errors
 * (exit 2, with a `Try: strata <command> --help` line), `CliError`s carry their own exit code,
 * every other Strata error is operational (exit 1). Anything else is reported as
 * `STRATA_INTERNAL` (exit 1); its stack is printed when `debug` is set.
 */
export function reportError(e: unknown, commandPath: string, debug = false): ErrorReport {
  let code: string
  let message: string
  let data: Readonly<Record<string, unknown>> = {}
  let exitCode: ExitCode
  let ownHint: string | undefined
  if (e instanceof CommanderError) {
    code = 'STRATA_USAGE'
    // `commander.help` means a command group was called without a subcommand; its help is already on stderr.
    message = e.code === 'commander.help' ? 'a subcommand is required (see the list above)' : e.message.replace(/^error:\s*/, '')
    data = { reason: e.code }
    exitCode = ExitCode.usage
  } else if (e instanceof CliError) {
    ;({ code, message, data, exitCode } = e)
    ownHint = e.hint
  } else if (isStrataError(e)) {
    code = e.code
    message = e.message
    data = (e as { data?: Record<string, unknown> }).data ?? {}
    exitCode = USAGE_CODES.has(code) ? ExitCode.usage : ExitCode.failure
  } else {
    code = 'STRATA_INTERNAL'
    message = e instanceof Error ? e.message : String(e)
    exitCode = ExitCode.failure
  }
  // Engine messages often name the command to run next already; a second hint would only repeat it.
  const hint = ownHint ?? (/`strata /.test(message) ? undefined : HINTS[code])
  const lines = [`strata: ${message}`]
  if (hint) lines.push(`hint: ${hint}`)
  if (exitCode === ExitCode.usage) lines.push(`Try: ${commandPath} --help`)
  if (debug && e instanceof Error && e.stack) lines.push(e.stack)
  return { exitCode, json: { code, message, data: JSON.parse(toJson(data, 0)) as Record<string, unknown>, ...(hint ? { hint } : {}) }, lines }
}
