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
      const result = await repo.deleteBranch(name)
      ctx.emit({ deleted: result.name, branchId: result.branchId, head: result.head }, () => [`Deleted branch ${name} (was ${result.head.slice(0, 12)})`])
    })
  examples(cmd, 'strata branch delete experiment')
}
