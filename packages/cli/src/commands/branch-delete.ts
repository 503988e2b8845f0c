import { Option, type Command } from 'commander'
import { examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** `strata branch delete <name>`: remove a branch's name; its data goes at the next `gc` unless other branches stack on it. */
export function registerBranchDelete(parent: Command, app: App): void {
  const cmd = parent
    .command('delete')
    .alias('rm')
    .description('delete a branch (the name is free at once; run `strata gc` to reclaim space)')
    .argument('<name>', 'branch to delete (not main)')
    .option('--detach-children', 'first materialize every branch stacked on its snapshots, by reference, so none of them reads through it any more (safe to re-run)')
    .addOption(new Option('--copy', 'detach children as full copies, so gc can free every segment of this branch (implies --detach-children; slower: reads and writes each child whole)').implies({ detachChildren: true }))
    .action(async (name: string, opts: { detachChildren?: boolean; copy?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await repo.deleteBranch(name, { detachChildren: opts.detachChildren === true, copy: opts.copy === true })
      ctx.emit({ deleted: result.name, branchId: result.branchId, head: result.head, detached: result.detached }, () => [
        ...result.detached.map((d) => `Materialized ${d.branch} (${shortId(d.snapshot)}, ${d.mode === 'copy' ? 'copied' : 'by reference'}) so it no longer stacks on ${name}`),
        `Deleted branch ${name} (was ${result.head.slice(0, 12)})`,
      ])
    })
  examples(cmd, 'strata branch delete experiment', 'strata branch delete feature --detach-children', 'strata branch delete feature --copy    # children share no segment with it')
}
