import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** `strata branch delete <name>`: remove a branch's name; its data goes at the next `gc` unless other branches stack on it. */
export function registerBranchDelete(parent: Command, app: App): void {
  const cmd = parent
    .command('delete')
    .alias('rm')
    .description('delete a branch (the name is free at once; run `strata gc` to reclaim space)')
    .argument('<name>', 'branch to delete (not main)')
    .option('--detach-children', 'first materialize every branch stacked on its snapshots, so gc can free all of its pages (safe to re-run)')
    .action(async (name: string, opts: { detachChildren?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await repo.deleteBranch(name, { detachChildren: opts.detachChildren === true })
      ctx.emit({ deleted: result.name, branchId: result.branchId, head: result.head, detached: result.detached }, () => [
        ...result.detached.map((d) => `Materialized ${d.branch} (${shortId(d.snapshot)}) so it no longer stacks on ${name}`),
        `Deleted branch ${name} (was ${result.head.slice(0, 12)})`,
      ])
    })
  examples(cmd, 'strata branch delete experiment', 'strata branch delete feature --detach-children')
}
