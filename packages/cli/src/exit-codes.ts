/**
 * The process exit codes of `strata`. Part of the interface: scripts branch on them.
 * - `ok` (0): the command did what was asked.
 * - `failure` (1): an operational error — the store, the data or a file said no.
 * - `usage` (2): the command line was wrong (unknown option, missing argument, invalid name or
 *   argument value); nothing was done.
 * - `problems` (3): `verify` ran and found problems.
 * - `cannotExecute` (126), `commandNotFound` (127): `exec` could not start the program (as
 *   `env(1)` and shells report it). Otherwise `exec` exits with its program's own code.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  problems: 3,
  cannotExecute: 126,
  commandNotFound: 127,
} as const

/** One of the values of {@link ExitCode}. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
