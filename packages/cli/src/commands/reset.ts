import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { shortId } from '../render.js'

/** `strata reset <branch> <snapshot> [--force] [-m MSG]`: point a branch back at an earlier snapshot of its history. */
export function registerReset(parent: Command, app: App): void {
  const cmd = parent
    .command('reset')
    .description("point a branch back at an earlier snapshot of its history (time travel); the snapshots after it stay in the branch's history until gc's retention frees them")
    .argument('<branch>', 'branch to move')
    .argument('<snapshot>', 'snapshot id or prefix (see `strata log <branch>`), or a tag')
    .option('--force', "allow a snapshot that is not in the branch's history (another branch's state)")
    .option('-m, --message <msg>', 'message of the reset entry in the history (default "reset to <snapshot>")')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .action(async (branch: string, to: string, opts: { force?: boolean; message?: string; author?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await repo.reset(branch, to, {
        force: opts.force === true,
        ...(opts.message !== undefined ? { message: opts.message } : {}),
        ...(opts.author !== undefined ? { author: opts.author } : {}),
      })
      const target = await repo.resolveTarget(to)
      ctx.emit({ ...result, target: target.snapshot }, () => [
        `Reset ${branch} to ${shortId(target.snapshot)}: new head ${shortId(result.snapshot)}, ${result.pageCount} pages, nothing copied`,
        `The previous head ${shortId(result.previous)} stays in the history of ${branch} (strata log ${branch}) until gc's retention frees it.`,
      ])
    })
  examples(cmd, 'strata log experiment --limit 5', 'strata reset experiment 3f2a9c1e', 'strata reset experiment before-migration   # a tag', 'strata reset experiment 9c1e0b12 --force   # a snapshot of another branch')
}
