import type { Command } from 'commander'
import { DEFAULT_GRACE_MS } from '@strata/core'
import { duration, examples, type App } from '../app.js'
import { shortId, table } from '../render.js'

/**
 * `strata pins [list|remove|prune]`: the pins other stores hold in this one (snapshots they stack
 * on, which gc here keeps), and pruning the pins this store holds in its bases.
 */
export function registerPins(parent: Command, app: App): void {
  const pins = parent
    .command('pins')
    .description('pins: snapshots of this store that other stores stack on (gc keeps them)')
  examples(
    pins,
    'strata pins',
    'strata pins remove 6c1f0e52-…            # every pin of that dependent store',
    'strata pins remove s3://dev-bucket/alice 3fa9c1e0',
    'strata pins prune --allow-store s3://base-bucket/prod   # in the dependent store',
  )

  const list = pins
    .command('list', { isDefault: true })
    .description('list the pins other stores hold in this store')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const found = await repo.listPins()
      ctx.emit({ pins: found }, () =>
        found.length === 0
          ? ['No pins: no other store stacks on this one (or it was created without pinning).']
          : table(
              ['SNAPSHOT', 'DEPENDENT STORE', 'STORE ID', 'CREATED', 'SNAPSHOT PRESENT'],
              found.map((p) => [shortId(p.snapshot), p.dependentStore.url, p.dependentStore.id, p.createdAt, p.snapshotExists ? 'yes' : 'NO']),
            ),
      )
    })
  examples(list, 'strata pins list', 'strata pins list --json')

  const remove = pins
    .command('remove')
    .alias('rm')
    .description('remove pins of a dependent store (its id or URL), optionally only for one snapshot; gc may then free what they kept')
    .argument('<store>', 'the dependent store: its id or URL (see `strata pins`)')
    .argument('[snapshot]', 'only the pin of this snapshot (id or prefix)')
    .action(async (store: string, snapshot: string | undefined, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const removed = await repo.removePins({ store, ...(snapshot ? { snapshot } : {}) })
      ctx.emit({ removed }, () =>
        removed.length === 0 ? [`No pin matches ${store}${snapshot ? ` ${snapshot}` : ''}`] : removed.map((p) => `Removed pin of ${shortId(p.snapshot)} for ${p.dependentStore.url}`),
      )
      if (removed.length > 0) ctx.log('a dependent store still stacked on those snapshots fails once gc frees them; it should materialize its branches first')
    })
  examples(remove, 'strata pins remove s3://dev-bucket/alice', 'strata pins rm 6c1f0e52-9d1b-4c3e-8f0a-2b7d5e4c1a90 3fa9c1e0')

  const prune = pins
    .command('prune')
    .description('in a store that stacks on others: remove the pins it holds in its base stores that none of its branches or retained history needs')
    .option('--dry-run', 'list what would be removed; remove nothing')
    .option('--grace <duration>', `keep pins younger than this (default ${DEFAULT_GRACE_MS / 60_000}m), so a branch being created keeps its pin`, duration('--grace'))
    .action(async (opts: { dryRun?: boolean; grace?: number }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const r = await repo.prunePins({ dryRun: opts.dryRun === true, ...(opts.grace !== undefined ? { graceMs: opts.grace } : {}) })
      ctx.emit(r, () => [
        `${r.dryRun ? 'Would remove' : 'Removed'} ${r.removed.length} pin(s); kept ${r.kept.length}`,
        ...r.removed.map((p) => `  ${r.dryRun ? 'would remove' : 'removed'} ${shortId(p.snapshot)} in ${p.url}`),
        ...r.kept.map((p) => `  kept ${shortId(p.snapshot)} in ${p.url} (${p.reason === 'needed' ? 'still needed' : p.reason === 'grace' ? 'younger than the grace period' : 'rewritten meanwhile'})`),
        ...r.skipped.map((s) => `  skipped ${s.url}: ${s.reason}`),
      ])
    })
  examples(prune, 'strata pins prune --dry-run --allow-store s3://base-bucket/prod', 'strata pins prune --grace 0 --allow-store s3://base-bucket/prod')
}
