import type { Command } from 'commander'
import type { RetentionPolicy } from '@strata/core'
import { duration, positiveInt } from './app.js'

/** The retention flags as Commander parses them. */
export interface RetentionFlags {
  keepLast?: number
  keepWithin?: number
}

/**
 * Add `--keep-last <n>` and `--keep-within <duration>` to `cmd`: the retention gc would use, so
 * commands that explain or prepare gc (stats, why-alive, compact) see what gc with the same flags
 * sees. Both default to gc's own defaults.
 */
export function retentionOptions(cmd: Command): Command {
  return cmd
    .option('--keep-last <n>', 'retention as gc would use it: snapshots of history kept per branch, the head included (default 1)', positiveInt('--keep-last'))
    .option('--keep-within <duration>', 'retention as gc would use it: also keep every snapshot younger than this (default 7d; 0 for none)', duration('--keep-within'))
}

/** The policy the flags ask for, or undefined for gc's default. */
export function retentionOf(flags: RetentionFlags): RetentionPolicy | undefined {
  if (flags.keepLast === undefined && flags.keepWithin === undefined) return undefined
  return { ...(flags.keepLast !== undefined ? { keepLast: flags.keepLast } : {}), ...(flags.keepWithin !== undefined ? { keepWithinMs: flags.keepWithin } : {}) }
}
