import type { Command } from 'commander'
import type { App } from '../app.js'
import { registerCompact } from './compact.js'
import { registerDiff } from './diff.js'
import { registerHold } from './hold.js'
import { registerHolds } from './holds.js'
import { registerMap } from './map.js'
import { registerReset } from './reset.js'
import { registerStats } from './stats.js'
import { registerTag } from './tag.js'
import { registerUnhold } from './unhold.js'
import { registerWhyAlive } from './why-alive.js'

/**
 * Register the history commands (tag, reset, diff, map) and the storage-lifecycle commands
 * (stats, why-alive, hold, unhold, holds, compact) on `program`, in the order `--help` lists them.
 */
export function registerHistoryAndLifecycle(program: Command, app: App): void {
  registerTag(program, app)
  registerReset(program, app)
  registerDiff(program, app)
  registerMap(program, app)
  registerStats(program, app)
  registerWhyAlive(program, app)
  registerHold(program, app)
  registerUnhold(program, app)
  registerHolds(program, app)
  registerCompact(program, app)
}
