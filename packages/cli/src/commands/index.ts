import type { Command } from 'commander'
import type { App } from '../app.js'

/** Adds one top-level command (with its subcommands) to the program. */
export type RegisterCommand = (program: Command, app: App) => void

/** A top-level command of the registry: its name, and how to load the module that registers it. */
export interface CommandEntry {
  /** The command's name, as typed after `strata`. */
  readonly name: string
  /** Import the command's module (on demand: a run loads only the command it runs) and return its `register…` function. */
  load(): Promise<RegisterCommand>
  /**
   * Start, in the background, slow work the command is going to need, before its module (and
   * everything that module imports) loads; `args` are the words after the command's name. Called
   * only when this command is the one being run, not for `--help`; the command's module loads
   * once the returned promise settles (it should settle quickly: start the work, do not wait for
   * it). Whatever it starts must be harmless if the command then fails early: it is a head start,
   * never a side effect, and its failures are ignored (the command meets them again).
   */
  warm?(args: readonly string[]): Promise<void>
}

/**
 * The warm-up of a command that opens branches lazily unless `--hydrate` is given, when `opens`
 * says its arguments open any (default: always): start the lazy fetcher thread of
 * `@strata/sqlite` (a new isolate loading its own modules: most of a cold lazy open), on another
 * core while the command loads.
 */
function warmLazy(opens: (args: readonly string[]) => boolean = () => true): (args: readonly string[]) => Promise<void> {
  return async (args) => {
    if (opens(args) && !args.includes('--hydrate')) (await import('@strata/sqlite/prewarm')).prewarmLazy()
  }
}

/**
 * Every top-level command of `strata`, in the order `strata --help` lists them. This is the one
 * registry: a new command is a module with a `register…` function, added here in one line.
 * Modules are imported only when needed (see `loadCommands`), so starting one command does not
 * load the code of all the others.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'init', load: async () => (await import('./init.js')).registerInit },
  { name: 'import', load: async () => (await import('./import.js')).registerImport },
  { name: 'branch', load: async () => (await import('./branch.js')).registerBranch },
  { name: 'sql', load: async () => (await import('./sql.js')).registerSql, warm: warmLazy() },
  { name: 'exec', load: async () => (await import('./exec.js')).registerExec },
  { name: 'shell', load: async () => (await import('./shell.js')).registerShell },
  { name: 'log', load: async () => (await import('./log.js')).registerLog },
  { name: 'show', load: async () => (await import('./show.js')).registerShow },
  { name: 'materialize', load: async () => (await import('./materialize.js')).registerMaterialize },
  { name: 'export', load: async () => (await import('./export.js')).registerExport },
  { name: 'gc', load: async () => (await import('./gc.js')).registerGc },
  { name: 'verify', load: async () => (await import('./verify.js')).registerVerify },
  { name: 'tag', load: async () => (await import('./tag.js')).registerTag },
  { name: 'reset', load: async () => (await import('./reset.js')).registerReset },
  {
    name: 'diff',
    load: async () => (await import('./diff.js')).registerDiff,
    // Only --tables and --rows open the two sides (lazily unless --hydrate).
    warm: warmLazy((args) => args.some((a) => a === '--tables' || a === '--rows' || a.startsWith('--rows='))),
  },
  { name: 'merge', load: async () => (await import('./merge.js')).registerMerge },
  {
    name: 'map',
    load: async () => (await import('./map.js')).registerMap,
    warm: warmLazy((args) => args.includes('--owners')),
  },
  { name: 'stats', load: async () => (await import('./stats.js')).registerStats },
  { name: 'graph', load: async () => (await import('./graph.js')).registerGraph },
  { name: 'ui', load: async () => (await import('./ui.js')).registerUi },
  { name: 'why-alive', load: async () => (await import('./why-alive.js')).registerWhyAlive },
  { name: 'hold', load: async () => (await import('./hold.js')).registerHold },
  { name: 'unhold', load: async () => (await import('./unhold.js')).registerUnhold },
  { name: 'holds', load: async () => (await import('./holds.js')).registerHolds },
  { name: 'compact', load: async () => (await import('./compact.js')).registerCompact },
  { name: 'pins', load: async () => (await import('./pins.js')).registerPins },
  { name: 'repoint', load: async () => (await import('./repoint.js')).registerRepoint },
  { name: 'doctor', load: async () => (await import('./doctor.js')).registerDoctor },
  { name: 'upgrade', load: async () => (await import('./upgrade.js')).registerUpgrade },
]
