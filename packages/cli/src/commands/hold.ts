import type { Command } from 'commander'
import type { HoldRecord, Keyed } from '@strata/core'
import { examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** How a hold reads for people. */
export function holdText(h: Keyed<HoldRecord>): string {
  return h.record.target === 'branch' ? `branch ${h.record.branch}` : `snapshot ${shortId(h.record.snapshot)}`
}

/** `strata hold <branch|snapshot> [--reason R] [--snapshot]`: keep something regardless of retention and expiry. */
export function registerHold(parent: Command, app: App): void {
  const cmd = parent
    .command('hold')
    .description('keep a branch (never expires, cannot be deleted, whole history kept) or a snapshot regardless of retention; idempotent')
    .argument('<target>', 'branch name, tag or snapshot id (a branch name holds the branch)')
    .option('--reason <text>', 'why it is held (shown by `strata holds`)')
    .option('--snapshot', "hold the branch's current head snapshot rather than the branch")
    .action(async (spec: string, opts: { reason?: string; snapshot?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const h = await repo.hold(spec, { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), snapshot: opts.snapshot === true })
      ctx.emit(h, () => [`Holding ${holdText(h)}${h.record.reason ? `: ${h.record.reason}` : ''} (since ${h.record.createdAt}; release with \`strata unhold ${spec}\`)`])
    })
  examples(cmd, 'strata hold main --reason "audit until March"', 'strata hold experiment --snapshot', 'strata hold 3f2a9c1e')
}
