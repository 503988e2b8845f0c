import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { table } from '../render.js'
import { holdText } from './hold.js'

/** `strata holds`: every hold in the store. */
export function registerHolds(parent: Command, app: App): void {
  const cmd = parent
    .command('holds')
    .description('list holds: branches and snapshots gc keeps regardless of retention and expiry')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const holds = await repo.listHolds()
      ctx.emit({ holds }, () =>
        holds.length === 0 ? ['No holds. Place one with `strata hold <branch|snapshot>`.'] : table(['HOLD', 'SINCE', 'REASON'], holds.map((h) => [holdText(h), h.record.createdAt, h.record.reason])),
      )
    })
  examples(cmd, 'strata holds', 'strata holds --json')
}
