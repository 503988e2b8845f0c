import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import type { App } from './app.js'
import type { CommandContext } from './context.js'
import { ExitCode } from './exit-codes.js'
import type { CliIo } from './io.js'
import { COMMANDS, type CommandEntry, type RegisterCommand } from './commands/index.js'

// Repeated here (and checked equal by the tests) so that building the program loads neither the
// store code nor @strata/core: `strata --version` and `--help` need none of it.
const STORE_ENV = 'STRATA_STORE'
const ALLOW_STORES_ENV = 'STRATA_ALLOW_STORES'

/** The version of this package, from its package.json (one level above both `src/` and `dist/`). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** A program being run: the Commander tree plus what `run` needs to report and clean up. */
export interface BuiltProgram {
  program: Command
  /** The command being parsed or run (the deepest one reached so far). */
  active(): Command
  /** Every context a command created (their stores must be closed). */
  contexts: CommandContext[]
}

/** The commands a run needs, loaded: their `register…` functions and the context class their actions use. */
export interface LoadedCommands {
  readonly register: readonly RegisterCommand[]
  /** Null when no command is loaded (`strata --version`). */
  readonly Context: typeof CommandContext | null
}

/** Global options that take a value: the word after them is not a command name. */
const VALUE_OPTIONS = new Set(['--store', '--allow-store'])

/**
 * Load what running `argv` needs: only the command it names (its first word that is not a
 * global option or an option's value); every command when it names none or one that does not
 * exist (`strata --help`, `strata help sql`, a typo that Commander answers with suggestions); none
 * for a bare `strata --version`. A named command's `warm` hook runs first (see {@link CommandEntry}).
 */
export async function loadCommands(argv: readonly string[]): Promise<LoadedCommands> {
  let entries = COMMANDS
  let named = false
  let warm: Promise<void> | undefined
  const help = argv.some((a) => a === '-h' || a === '--help')
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (VALUE_OPTIONS.has(a)) i++
    else if (!a.startsWith('-')) {
      const entry = COMMANDS.find((c) => c.name === a)
      if (entry) {
        entries = [entry]
        if (!help) warm = entry.warm?.(argv.slice(i + 1))
      }
      named = true
      break
    }
  }
  // Before the command's module: its imports would otherwise queue ahead of the warm-up's own.
  await warm?.catch(() => {})
  if (!named && argv.some((a) => a === '-V' || a === '--version') && !help) entries = []
  const [register, context] = await Promise.all([Promise.all(entries.map((c) => c.load())), entries.length > 0 ? import('./context.js') : null])
  return { register, Context: context?.CommandContext ?? null }
}

/**
 * Build the `strata` command tree writing to `io`, with the `commands` loaded for this run (all
 * of them unless given). Commander never exits the process: errors are thrown (`exitOverride`)
 * and its own error printing is off, so `run` reports them.
 */
export async function buildProgram(io: CliIo, commands?: LoadedCommands): Promise<BuiltProgram> {
  const { register: registers, Context } = commands ?? (await loadCommands([]))
  const contexts: CommandContext[] = []
  const program = new Command('strata')
  let active: Command = program
  program
    .description('Strata: SQLite databases in object storage, with cheap stacked branches.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--store <url-or-path>', `the store: a directory, file:///dir or s3://bucket/prefix (default $${STORE_ENV})`)
    .option('--json', 'print exactly one JSON document on stdout (errors as JSON on stderr)')
    .option('-q, --quiet', 'no progress bars or log lines on stderr')
    .option('--allow-store <url>', `a store that branches stacked on other stores may read from (repeatable; also $${ALLOW_STORES_ENV}, comma-separated)`, (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: () => {},
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .hook('preSubcommand', (_self, sub) => void (active = sub))
    .hook('preAction', (_self, leaf) => void (active = leaf))
  program.addHelpText(
    'after',
    [
      '',
      'Example:',
      '  $ export STRATA_STORE=./data',
      '  $ strata init && strata import app.db',
      '  $ strata branch create try-migration',
      `  $ strata sql try-migration "ALTER TABLE users ADD COLUMN plan TEXT"`,
      '  $ strata export try-migration out.db --check',
      '  $ strata branch delete try-migration && strata gc',
      '',
      'Environment:',
      `  ${STORE_ENV}        the store when --store is not given`,
      '  AWS_*               S3 configuration for s3:// stores (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_PROFILE, …)',
      `  ${ALLOW_STORES_ENV} stores cross-store fallbacks may open (comma-separated URLs), like --allow-store`,
      '  STRATA_DEBUG=1      print stack traces of errors',
      '',
      `Exit codes: ${ExitCode.ok} ok, ${ExitCode.failure} operational error, ${ExitCode.usage} usage error, ${ExitCode.problems} verify found problems; exec: its program's own code (${ExitCode.commandNotFound}: not found)`,
    ].join('\n'),
  )

  const app: App = {
    context: (cmd) => {
      if (!Context) throw new Error('a command ran without its context class loaded')
      const ctx = new Context(io, cmd.optsWithGlobals())
      contexts.push(ctx)
      return ctx
    },
  }

  for (const register of registers) register(program, app)
  // A command group (e.g. `branch`) reports which of its subcommands is running.
  for (const cmd of program.commands) if (cmd.commands.length > 0) cmd.hook('preSubcommand', (_self, sub) => void (active = sub))
  return { program, active: () => active, contexts }
}

/** `strata branch create` for a command deep in the tree. */
export function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}
