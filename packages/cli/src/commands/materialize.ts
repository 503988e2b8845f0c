import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'

/** `strata materialize <branch>`: flatten a branch into a standalone snapshot with no fallback. */
export function registerMaterialize(parent: Command, app: App): void {
  const cmd = parent
    .command('materialize')
    .description('flatten a branch into a standalone snapshot (it then depends on no ancestor branch); by default its page table references the segments that already hold its pages, so it costs the table, not the data')
    .argument('<branch>', 'branch to flatten')
    .option('-m, --message <msg>', 'message recorded in the history')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--copy', 'copy every page into fresh segments (shares no object with other snapshots; reads and writes the whole database) instead of referencing the segments that already hold them')
    .action(async (branch: string, opts: { message?: string; author?: string; copy?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await ctx.withProgress('materialize', (progress) =>
        repo.materialize(branch, {
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          ...(opts.copy ? { copy: true } : {}),
          ...progress,
        }),
      )
      ctx.emit(result, () => [
        `Materialized ${branch}: ${shortId(result.previous)} → ${shortId(result.snapshot)} (${result.pageCount} pages, ${result.mode === 'copy' ? 'copied' : `${result.pagesReferenced} by reference to ${result.segmentsReferenced} segments`}, ${formatBytes(result.bytesWritten)} written)`,
      ])
    })
  examples(cmd, 'strata materialize experiment -m "keep this one"', 'strata materialize experiment --copy   # before deleting its ancestors to reclaim their space at once')
}
