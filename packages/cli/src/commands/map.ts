import type { Command } from 'commander'
import type { PageRange } from '@strata/core'
import { examples, type App } from '../app.js'
import { shortId, table } from '../render.js'
import { CACHE_DIR_ENV } from './sql.js'

/** `strata map <branch|snapshot> [--owners]`: which snapshot and store serve each page range, and (with --owners) which table or index owns it. */
export function registerMap(parent: Command, app: App): void {
  const cmd = parent
    .command('map')
    .description('which snapshot (and store) serves each page range of a branch or snapshot — the way to see a chain; --owners adds the table or index owning each range')
    .argument('<target>', 'branch, tag or snapshot id')
    .option('--owners', 'name the table or index owning each range (SQLite reads every b-tree page once, fetched as it reads them)')
    .option('--work-dir <dir>', 'where --owners puts the database file, removed afterwards (default: the OS temp directory)')
    .option('--hydrate', 'with --owners: copy the whole database first instead of fetching pages as SQLite reads them')
    .action(async (spec: string, opts: { owners?: boolean; workDir?: string; hydrate?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      let map: { target: { snapshot: string; branch: string | null }; pageCount: number; ranges: (PageRange & { owner?: string; ownerType?: string })[] }
      if (opts.owners) {
        const { pageMapWithOwners } = await import('@strata/sqlite')
        const cacheDir = ctx.io.env[CACHE_DIR_ENV]
        map = await pageMapWithOwners(repo, spec, { ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}), ...(cacheDir ? { cacheDir } : {}), mode: opts.hydrate ? 'file' : 'lazy' })
      } else {
        map = await repo.pageMap(spec)
      }
      const stores = [...new Set(map.ranges.map((r) => r.store))]
      const levels = new Set(map.ranges.filter((r) => r.depth >= 0).map((r) => r.depth)).size
      ctx.emit(map, () => [
        `${map.target.branch ?? spec} @ ${shortId(map.target.snapshot)}: ${map.pageCount} pages from ${levels} snapshot${levels === 1 ? '' : 's'}${stores.length === 1 ? ` in ${stores[0]}` : ''}`,
        ...table(
          ['PAGES', 'COUNT', 'SNAPSHOT', 'DEPTH', ...(stores.length > 1 ? ['STORE'] : []), ...(opts.owners ? ['OWNER'] : [])],
          map.ranges.map((r) => [
            r.from === r.to ? String(r.from) : `${r.from}-${r.to}`,
            r.to - r.from + 1,
            r.snapshot ? shortId(r.snapshot) : '(lock-byte page)',
            r.depth,
            ...(stores.length > 1 ? [r.store] : []),
            ...(opts.owners ? [r.owner ?? ''] : []),
          ]),
        ),
      ])
      if (!opts.owners) ctx.log(`which table or index owns each range: strata map ${spec} --owners (reads every b-tree page once)`)
    })
  examples(cmd, 'strata map experiment', 'strata map experiment --owners', 'strata map 3f2a9c1e --json')
}
