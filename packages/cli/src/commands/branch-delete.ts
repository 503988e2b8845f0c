import type { Command } from 'commander'
import { examples, type App } from '../app.js'

/** `strata branch delete <name>`: remove a branch's name; its data goes at the next `gc` unless other branches stack on it. */
export function registerBranchDelete(parent: Command, app: App): void {
  const cmd = parent
    .command('delete')
    .alias('rm')
    .description('delete a branch (the name is free at once; run `strata gc` to reclaim space)')
    .argument('<name>', 'branch to delete (not main)')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const branch = await repo.getBranch(name)
      await repo.deleteBranch(name)
      ctx.emit({ deleted: name, branchId: branch.branchId, head: branch.head }, () => [`Deleted branch ${name} (was ${branch.head.slice(0, 12)})`])
    })
  examples(cmd, 'strata branch delete experiment')
}
