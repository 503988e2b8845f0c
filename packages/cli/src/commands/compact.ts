import type { Command } from 'commander'
import { InvalidArgumentError as InvalidOptionArgument } from 'commander'
import { examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'
import { retentionOf, retentionOptions, type RetentionFlags } from '../retention-options.js'

/** `strata compact [<branch>]`: rewrite a head's mostly-dead or small segments (gc frees the old ones). */
export function registerCompact(parent: Command, app: App): void {
  const cmd = retentionOptions(
    parent
      .command('compact')
      .description("rewrite the segments of a branch head (or of every head) that are mostly dead pages or many small ones; the old segments go at the next gc")
      .argument('[branch]', 'only this branch (default: every branch)')
      .option('--min-live <fraction>', 'rewrite a segment when less than this fraction of its bytes is live (0…1, default 0.5)', fraction('--min-live')),
  ).action(async (branch: string | undefined, opts: RetentionFlags & { minLive?: number }, self: Command) => {
    const ctx = app.context(self)
    const repo = await ctx.repository()
    const retention = retentionOf(opts)
    const result = await ctx.withProgress('compact', (progress) =>
      repo.compact(branch, {
        ...(retention ? { retention } : {}),
        ...(opts.minLive !== undefined ? { minLiveFraction: opts.minLive } : {}),
        ...progress,
      }),
    )
    ctx.emit(result, () => [
      ...(result.compacted.length === 0 ? [`Nothing to compact${branch ? ` on ${branch}` : ''}: no head has mostly-dead or many small segments`] : []),
      ...result.compacted.map(
        (c) => `Compacted ${c.branch}: ${c.segmentsReplaced} segment(s) replaced, ${c.pagesRewritten} page(s) rewritten, ${formatBytes(c.bytesWritten)} written; head ${shortId(c.previous)} → ${shortId(c.snapshot)}`,
      ),
      ...result.skipped.map((s) => `Skipped ${s.branch}: ${s.reason === 'conflict' ? 'it moved meanwhile (run again)' : 'something else keeps its head'}`),
      ...(result.compacted.length > 0 ? ['Run `strata gc` to free the replaced segments.'] : []),
    ])
  })
  examples(cmd, 'strata compact', 'strata compact experiment --min-live 0.8', 'strata compact && strata gc')
}

function fraction(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (!/^\d*\.?\d+$/.test(value) || !(n >= 0 && n <= 1)) throw new InvalidOptionArgument(`${name} must be a number from 0 to 1`)
    return n
  }
}
