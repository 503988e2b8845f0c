import { CommanderError } from 'commander'
import { ExitCode } from './exit-codes.js'
import { processIo, type CliIo } from './io.js'
import { toJson } from './json.js'
import { buildProgram, commandPath, loadCommands } from './program.js'

/**
 * Run `strata` with `argv` (the arguments after the program name) against `io`, in-process.
 * Resolves to the exit code (see {@link ExitCode}; `exec` passes its program's code through); never calls `process.exit` and never
 * rejects: every failure is reported on `io.stderr` (as `{"error": {code, message, data}}` with
 * `--json`) and mapped to its exit code. Stores opened by the command are closed before it resolves.
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const built = await buildProgram(io, await loadCommands(argv))
  try {
    await built.program.parseAsync([...argv], { from: 'user' })
    return built.contexts.find((c) => c.exitCode !== ExitCode.ok)?.exitCode ?? ExitCode.ok
  } catch (e) {
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return ExitCode.ok
    const json = built.program.opts<{ json?: boolean }>().json === true || wantsJson(argv)
    // Loaded on failure only: error reporting knows every error class of @strata/core.
    const { reportError } = await import('./error-report.js')
    const report = reportError(e, commandPath(built.active()), Boolean(io.env.STRATA_DEBUG))
    io.stderr.write(json ? toJson({ error: report.json }, 0) + '\n' : report.lines.join('\n') + '\n')
    return report.exitCode
  } finally {
    await Promise.allSettled(built.contexts.map((c) => c.close()))
  }
}

// Parse errors can happen before Commander has read --json; the flag still decides the format.
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}
