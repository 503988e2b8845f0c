import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'

/** `strata materialize <branch>`: flatten a branch into a standalone snapshot with no fallback. */
export function registerMaterialize(parent: Command, app: App): void {
  const cmd = parent
    .command('materialize')
    .description('flatten a branch into a standalone snapshot (it then depends on no ancestor)')
    .argument('<branch>', 'branch to flatten')
    .option('-m, --message <msg>', 'message recorded in the history')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .action(async (branch: string, opts: { message?: string; author?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await ctx.withProgress('materialize', (progress) =>
        repo.materialize(branch, {
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          ...progress,
        }),
      )
      ctx.emit(result, () => [
        `Materialized ${branch}: ${shortId(result.previous)} → ${shortId(result.snapshot)} (${result.pageCount} pages, ${formatBytes(result.bytesWritten)} written)`,
      ])
    })
  examples(cmd, 'strata materialize experiment -m "keep this one"')
}
