import type { Command } from 'commander'
import { examples, type App } from '../app.js'

/** `strata repoint <old-url> <new-url>`: a base store moved; check identity and checksums, then read it from the new URL. */
export function registerRepoint(parent: Command, app: App): void {
  const cmd = parent
    .command('repoint')
    .description('a base store this store stacks on moved: check that the new location holds the same store and snapshots, then use it')
    .argument('<old-url>', 'where the base store was')
    .argument('<new-url>', 'where it is now (must be allowed: --allow-store)')
    .action(async (oldUrl: string, newUrl: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const r = await repo.repoint(oldUrl, newUrl)
      ctx.emit(r, () => [
        `Repointed base store ${r.storeId}: ${r.from} → ${r.to}`,
        `checked ${r.snapshots.length} snapshot(s) and ${r.segments} segment(s) at the new location`,
      ])
    })
  examples(cmd, 'strata repoint s3://old-bucket/prod s3://new-bucket/prod --allow-store s3://new-bucket/prod')
}
