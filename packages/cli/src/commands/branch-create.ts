import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** `strata branch create <name> [--from <branch|snapshot>]`: an O(1) branch stacked on a snapshot. */
export function registerBranchCreate(parent: Command, app: App): void {
  const cmd = parent
    .command('create')
    .description('create a branch stacked on a branch head or snapshot (copies no data)')
    .argument('<name>', "new branch name: letters, digits, '_', '-', '.', '/'-separated segments")
    .option('--from <branch|snapshot>', 'where to branch from', 'main')
    .action(async (name: string, opts: { from: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const branch = await repo.createBranch(name, { from: opts.from })
      ctx.emit(branch, () => [`Created branch ${branch.name} from ${opts.from} at ${shortId(branch.head)}`])
    })
  examples(cmd, 'strata branch create experiment', 'strata branch create fix/login --from staging', 'strata branch create before-migration --from 3f2a9c1e')
}
