import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { constants } from 'node:os'
import { CliError } from './cli-error.js'
import { ExitCode } from './exit-codes.js'
import type { CliStream } from './io.js'

/** How a program run by {@link runChild} ended. */
export interface ChildOutcome {
  /** Its exit status, or null when a signal ended it. */
  code: number | null
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null
  /** What `strata` exits with to pass the outcome on: the status, or 128 + the signal's number (as shells do). */
  exitCode: number
}

/** Where the program's output goes. */
export interface ChildStreams {
  /** Receives the program's standard output. */
  stdout: CliStream
  /** Receives the program's standard error. */
  stderr: CliStream
}

// Signals a terminal sends to its whole foreground process group, which the program is in too.
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT']
// Signals usually sent to one process (a supervisor, a CI runner, `kill`): always passed on.
const PROCESS_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP']

/**
 * Run `argv[0]` with the rest of `argv` as arguments (no shell), standard input inherited,
 * output into `streams` (the process's own descriptors are handed over directly, other streams
 * are fed through pipes), and wait for it to end. While it runs, this process does not die of
 * SIGINT, SIGQUIT, SIGTERM or SIGHUP: SIGTERM and SIGHUP are passed on to the program; SIGINT and
 * SIGQUIT too, unless standard input is a terminal — a terminal's Ctrl-C and Ctrl-\ already
 * reach the program, which runs in the same process group, and a second copy would make some
 * programs (the `sqlite3` shell) quit instead of cancelling. The program decides what a signal
 * means; its outcome is returned either way.
 *
 * A program that cannot be started is a `CliError` `STRATA_EXEC_FAILED` with exit code 127 (not
 * found) or 126 (found but not executable), as `env(1)` reports it.
 */
export function runChild(argv: readonly string[], env: NodeJS.ProcessEnv, streams: ChildStreams): Promise<ChildOutcome> {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('runChild needs a program')
  const stdio: StdioOptions = ['inherit', descriptor(streams.stdout), descriptor(streams.stderr)]
  // Listen before spawning: a signal arriving between the spawn and the listeners (this process
  // descheduled right there) would end it by default and leave the program running on its own.
  // Listeners run on a later tick, when `child` is set.
  const forwarded = process.stdin.isTTY ? PROCESS_SIGNALS : [...PROCESS_SIGNALS, ...TERMINAL_SIGNALS]
  let child: ChildProcess | null = null
  const listeners = [...PROCESS_SIGNALS, ...TERMINAL_SIGNALS].map((signal) => {
    const listener = (): void => {
      if (child && forwarded.includes(signal) && child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    process.on(signal, listener)
    return [signal, listener] as const
  })
  const spawned = spawn(file, args, { env, stdio })
  child = spawned
  if (spawned.stdout) spawned.stdout.pipe(streams.stdout, { end: false })
  if (spawned.stderr) spawned.stderr.pipe(streams.stderr, { end: false })
  return new Promise<ChildOutcome>((resolve, reject) => {
    spawned.once('error', (e: NodeJS.ErrnoException) => {
      const notFound = e.code === 'ENOENT'
      const cannot = e.code === 'EACCES' || e.code === 'EISDIR' || e.code === 'ENOEXEC'
      reject(
        new CliError('STRATA_EXEC_FAILED', `cannot run ${JSON.stringify(file)}: ${notFound ? 'no such program (not on PATH?)' : e.message}`, {
          data: { program: file, errno: e.code ?? null },
          exitCode: notFound ? ExitCode.commandNotFound : cannot ? ExitCode.cannotExecute : ExitCode.failure,
          cause: e,
        }),
      )
    })
    // 'close', not 'exit': the program's output has been copied into the streams by then.
    spawned.once('close', (code, signal) => {
      resolve({ code, signal, exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0) })
    })
  }).finally(() => {
    for (const [signal, listener] of listeners) process.off(signal, listener)
  })
}

/** The process's own stdout and stderr are handed to the program as they are; anything else gets a pipe. */
function descriptor(stream: CliStream): 'pipe' | number {
  if (stream === process.stdout) return 1
  if (stream === process.stderr) return 2
  return 'pipe'
}
