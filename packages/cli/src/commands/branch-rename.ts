import type { Command } from 'commander'
import { examples, type App } from '../app.js'

/** `strata branch rename <old> <new>`: a ref operation; no data moves. */
export function registerBranchRename(parent: Command, app: App): void {
  const cmd = parent
    .command('rename')
    .alias('mv')
    .description('rename a branch (not main)')
    .argument('<old>', 'current name')
    .argument('<new>', 'new name')
    .action(async (from: string, to: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const branch = await repo.renameBranch(from, to)
      ctx.emit({ from, to, branch }, () => [`Renamed branch ${from} to ${to}`])
    })
  examples(cmd, 'strata branch rename experiment keep/experiment')
}
