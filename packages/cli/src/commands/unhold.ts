import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { holdText } from './hold.js'

/** `strata unhold <branch|snapshot>`: remove a hold; succeeds (and says so) when there was none. */
export function registerUnhold(parent: Command, app: App): void {
  const cmd = parent
    .command('unhold')
    .description('remove the hold on a branch or snapshot (gc may then free what only the hold kept); nothing held is not an error')
    .argument('<target>', 'branch name, or snapshot id or prefix of a held snapshot')
    .action(async (spec: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const removed = await repo.unhold(spec)
      ctx.emit({ removed }, () => [removed ? `Released the hold on ${holdText(removed)}` : `Nothing held as ${spec} (see \`strata holds\`)`])
    })
  examples(cmd, 'strata unhold main', 'strata unhold 3f2a9c1e')
}
