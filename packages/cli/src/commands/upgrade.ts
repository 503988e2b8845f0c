import type { Command } from 'commander'
import { Repository } from '@strata/core'
import { examples, type App } from '../app.js'

/** `strata upgrade`: bring a store written by an older format to the current one, in place. */
export function registerUpgrade(parent: Command, app: App): void {
  const cmd = parent
    .command('upgrade')
    .description('upgrade a store written by an older Strata format to the current one, in place (idempotent; safe to stop and rerun)')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const store = await ctx.openStore({ create: false })
      const r = await ctx.withProgress('upgrade', (progress) => Repository.upgrade(store, progress))
      ctx.emit(r, () => [
        r.upgraded
          ? `Upgraded ${r.store} from format ${r.from} to ${r.to}: ${r.refsMoved} ref(s) moved to case-folded keys, ${r.refsRewritten} rewritten in place, ${r.tagsMoved} tag(s) moved, ${r.oldKeysRemoved} old key(s) removed`
          : `${r.store} is already at format ${r.to}${r.tagsMoved > 0 ? `; moved ${r.tagsMoved} tag(s) to case-folded keys` : ''}${r.oldKeysRemoved > 0 ? `; removed ${r.oldKeysRemoved} old key(s)` : ''}${r.refsUnmarked > 0 ? `; finished ${r.refsUnmarked} ref(s) an interrupted upgrade wrote` : ''}`,
      ])
    })
  examples(cmd, 'strata upgrade --store ./data', 'strata upgrade --json')
}
