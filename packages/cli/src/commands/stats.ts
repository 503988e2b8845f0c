import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { formatBytes, shortId, table } from '../render.js'
import { retentionOf, retentionOptions, type RetentionFlags } from '../retention-options.js'

/** `strata stats [--branch NAME…]`: per-branch and store-wide sizes as gc sees them. */
export function registerStats(parent: Command, app: App): void {
  const cmd = retentionOptions(
    parent
      .command('stats')
      .description('sizes as gc sees them: per branch its chain depth, own and shared pages, history and what deleting it would free; store-wide live vs total bytes')
      .option('--branch <name>', 'only this branch in the per-branch figures (repeatable; store figures stay whole)', (v: string, prev: string[] = []) => [...prev, v]),
  ).action(async (opts: RetentionFlags & { branch?: string[] }, self: Command) => {
    const ctx = app.context(self)
    const repo = await ctx.repository()
    const retention = retentionOf(opts)
    const result = await ctx.withProgress('stats', (progress) => repo.stats({ ...(retention ? { retention } : {}), ...(opts.branch ? { branches: opts.branch } : {}), ...progress }))
    const s = result.store
    ctx.emit(result, () => [
      ...table(
        ['BRANCH', 'HEAD', 'DEPTH', 'PAGES', 'OWN', 'SHARED', 'HISTORY', 'DELETING FREES', 'EXPIRES', 'HELD'],
        result.branches.map((b) => [
          b.name,
          shortId(b.head),
          b.chainDepth,
          b.pageCount,
          formatBytes(b.ownBytes),
          formatBytes(b.sharedBytes),
          b.historySnapshots,
          formatBytes(b.exclusiveBytes),
          b.expiresAt ?? '-',
          b.held ? 'yes' : '',
        ]),
      ),
      '',
      `store: ${s.objects} objects, ${formatBytes(s.bytes)}; live ${s.liveObjects} objects, ${formatBytes(s.liveBytes)}; garbage ${s.garbageObjects} objects, ${formatBytes(s.garbageBytes)} (gc frees it once past the grace period)`,
      `pages inside live segments: ${formatBytes(s.livePageBytes)} read, ${formatBytes(s.deadPageBytes)} dead (compaction wins those back)` +
        (s.livePageBytes > 0 ? `; stored/live ${((s.livePageBytes + s.deadPageBytes) / s.livePageBytes).toFixed(2)}x` : ''),
      ...table(
        ['KIND', 'OBJECTS', 'BYTES', 'LIVE OBJECTS', 'LIVE BYTES'],
        Object.entries(s.byKind)
          .filter(([, k]) => k.objects > 0)
          .map(([kind, k]) => [kind, k.objects, formatBytes(k.bytes), k.liveObjects, formatBytes(k.liveBytes)]),
      ),
      ...result.crossStore.map((x) => `stacks on ${x.url}: ${x.snapshots.length} base snapshot(s), ${x.status}`),
    ])
  })
  examples(cmd, 'strata stats', 'strata stats --branch experiment --json', 'strata stats --keep-last 3 --keep-within 0')
}
