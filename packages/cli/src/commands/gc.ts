import type { Command } from 'commander'
import { DEFAULT_GRACE_MS, type GcOptions } from '@strata/core'
import { duration, examples, positiveInt, type App } from '../app.js'
import { formatBytes } from '../render.js'
import { retentionOf, type RetentionFlags } from '../retention-options.js'

/** `strata gc [--dry-run]`: delete what no branch, tag or retained history reaches any more. */
export function registerGc(parent: Command, app: App): void {
  const cmd = parent
    .command('gc')
    .description('delete snapshots and segments nothing references any more (older than the grace period)')
    .option('--dry-run', 'list what would be deleted and the bytes it would free; delete nothing')
    .option('--grace <duration>', `keep unreferenced objects younger than this (0, 30s, 15m, 2h; default ${DEFAULT_GRACE_MS / 60_000}m), so in-flight writes survive`, duration('--grace'))
    .option('--keep-last <n>', 'snapshots of history kept per branch, the head included (default 1)', positiveInt('--keep-last'))
    .option('--keep-within <duration>', "also keep every snapshot of a branch younger than this (default 7d; 0 for none)", duration('--keep-within'))
    .action(async (opts: RetentionFlags & { dryRun?: boolean; grace?: number }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const retention = retentionOf(opts)
      const gcOpts: GcOptions = {
        dryRun: opts.dryRun === true,
        ...(opts.grace !== undefined ? { graceMs: opts.grace } : {}),
        ...(retention ? { retention } : {}),
      }
      const result = await ctx.withProgress('gc', (progress) => repo.gc({ ...gcOpts, ...progress }))
      ctx.emit(result, () => {
        const f = result.freed
        const verb = result.dryRun ? 'Would delete' : 'Deleted'
        const lines = [
          `${verb} ${f.objects} object(s), ${formatBytes(f.bytes)}: ${f.snapshots} snapshot(s), ${f.segments} segment(s), ${f.branches} branch record(s)`,
        ]
        if (result.dryRun) lines.push(...result.deleted.map((o) => `  ${o.kind.padEnd(8)} ${o.key} (${formatBytes(o.size)})`))
        if (result.expiredBranches.length > 0) lines.push(`${result.dryRun ? 'Would expire' : 'Expired'} branches: ${result.expiredBranches.join(', ')}`)
        if (result.compacted.length > 0) lines.push(`Compacted: ${result.compacted.map((c) => c.branch).join(', ')}`)
        if (result.compactable.length > 0) lines.push(`Would compact: ${result.compactable.join(', ')}`)
        const g = result.protectedByGrace
        if (g.objects > 0) lines.push(`Kept ${g.objects} unreferenced object(s) (${formatBytes(g.bytes)}) younger than the grace period`)
        return lines
      })
    })
  examples(cmd, 'strata gc --dry-run', 'strata gc', 'strata gc --grace 0   # nobody else writes to this store')
}
