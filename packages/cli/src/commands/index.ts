import type { Command } from 'commander'
import type { App } from '../app.js'
import { registerBranch } from './branch.js'
import { registerCompact } from './compact.js'
import { registerDiff } from './diff.js'
import { registerDoctor } from './doctor.js'
import { registerExport } from './export.js'
import { registerGc } from './gc.js'
import { registerHold } from './hold.js'
import { registerHolds } from './holds.js'
import { registerImport } from './import.js'
import { registerInit } from './init.js'
import { registerLog } from './log.js'
import { registerMap } from './map.js'
import { registerMaterialize } from './materialize.js'
import { registerMerge } from './merge.js'
import { registerPins } from './pins.js'
import { registerRepoint } from './repoint.js'
import { registerReset } from './reset.js'
import { registerShow } from './show.js'
import { registerSql } from './sql.js'
import { registerExec } from './exec.js'
import { registerShell } from './shell.js'
import { registerStats } from './stats.js'
import { registerGraph } from './graph.js'
import { registerUi } from './ui.js'
import { registerTag } from './tag.js'
import { registerUnhold } from './unhold.js'
import { registerUpgrade } from './upgrade.js'
import { registerVerify } from './verify.js'
import { registerWhyAlive } from './why-alive.js'

/** Adds one top-level command (with its subcommands) to the program. */
export type RegisterCommand = (program: Command, app: App) => void

/**
 * Every top-level command of `strata`, in the order `strata --help` lists them. This is the one
 * registry: a new command is a module with a `register…` function, added here in one line.
 */
export const COMMANDS: readonly RegisterCommand[] = [
  registerInit,
  registerImport,
  registerBranch,
  registerSql,
  registerExec,
  registerShell,
  registerLog,
  registerShow,
  registerMaterialize,
  registerExport,
  registerGc,
  registerVerify,
  registerTag,
  registerReset,
  registerDiff,
  registerMerge,
  registerMap,
  registerStats,
  registerGraph,
  registerUi,
  registerWhyAlive,
  registerHold,
  registerUnhold,
  registerHolds,
  registerCompact,
  registerPins,
  registerRepoint,
  registerDoctor,
  registerUpgrade,
]
