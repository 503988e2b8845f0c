import type { Command } from 'commander'
import { Repository } from '@strata/core'
import { duration, examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** `strata branch create <name> [--from <branch|snapshot>]`: an O(1) branch stacked on a snapshot. */
export function registerBranchCreate(parent: Command, app: App): void {
  const cmd = parent
    .command('create')
    .description('create a branch stacked on a branch head or snapshot (copies no data)')
    .argument('<name>', "new branch name: letters, digits, '_', '-', '.', '/'-separated segments")
    .option('--from <branch|snapshot>', 'where to branch from: a branch or snapshot here, or <store-url>#<branch|snapshot> in another store (allow it with --allow-store)', 'main')
    .option('--ttl <duration>', 'a throwaway branch: gc deletes it this long after creation (30m, 2h, 7d) unless it is held', duration('--ttl'))
    .option('--no-pin', 'from another store: do not pin the base snapshot there (gc in that store may then delete it)')
    .action(async (name: string, opts: { from: string; pin: boolean; ttl?: number }, self: Command) => {
      const ctx = app.context(self)
      // Not opened first: from a branch of this store, the source ref proves the store's format.
      const branch = await Repository.createBranchIn(await ctx.openStore({ create: false }), name, { from: opts.from, pin: opts.pin, ...(opts.ttl !== undefined ? { ttlMs: opts.ttl } : {}) }, ctx.crossStoreOptions())
      const x = branch.crossStore
      ctx.emit(branch, () => [
        `Created branch ${branch.name} from ${opts.from} at ${shortId(branch.head)}${branch.expiresAt ? `; gc deletes it after ${branch.expiresAt}` : ''}`,
        ...(x ? [x.pinned ? `stacks on ${shortId(x.snapshot)} in ${x.store.url} (pinned there)` : `stacks on ${shortId(x.snapshot)} in ${x.store.url}, UNPINNED: ${x.unpinnedReason}`] : []),
      ])
      if (x && !x.pinned) ctx.log(`warning: gc in ${x.store.url} may delete snapshot ${shortId(x.snapshot)}; materialize the branch to keep it independent`)
    })
  examples(
    cmd,
    'strata branch create experiment',
    'strata branch create fix/login --from staging',
    'strata branch create before-migration --from 3f2a9c1e',
    'strata branch create scratch --ttl 2h',
    'strata branch create mine --from s3://team-base/prod#main --allow-store s3://team-base/prod',
  )
}
