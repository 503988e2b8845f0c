import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { formatBytes, keyValues, table } from '../render.js'

/** `strata show <branch|snapshot>`: sizes, own pages, the fallback chain and metadata of one snapshot. */
export function registerShow(parent: Command, app: App): void {
  const cmd = parent
    .command('show')
    .description('describe a branch head or snapshot: page size, page count, own pages, chain, bytes')
    .argument('<target>', 'branch name or snapshot id (or a prefix of at least 4 hex digits)')
    .action(async (spec: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const s = await repo.show(spec)
      ctx.emit(s, () => [
        ...keyValues([
          ['snapshot', s.id],
          ['branch', s.branch],
          ['page size', s.pageSize],
          ['page count', `${s.pageCount} (${formatBytes(s.pageCount * s.pageSize)})`],
          ['own pages', `${s.ownPages} (${formatBytes(s.ownBytes)})`],
          ['segments', `${s.segments} (${formatBytes(s.segmentBytes)})`],
          ['fallback', s.fallback ? s.fallback.snapshot + (s.fallback.store ? ` in ${s.fallback.store.url}` : '') : 'none (standalone)'],
          ['parent', s.parent],
          ...(s.merge
            ? ([
                ['merged in', `${s.merge.source}${s.merge.sourceBranch ? ` (${s.merge.sourceBranch})` : ''}`],
                ['merge base', s.merge.base],
              ] as const)
            : []),
          ['operation', s.operation],
          ['author', s.author],
          ['created', s.createdAt],
          ['tags', s.tags.join(', ')],
          ['message', s.message],
          ['checksum', s.checksum],
        ]),
        '',
        'chain:',
        ...table(
          ['DEPTH', 'SNAPSHOT', 'PAGES', 'OWN', 'STORE'],
          s.chain.map((c, i) => [i, c.id, c.pageCount, c.ownPages, c.store]),
        ).map((l) => `  ${l}`),
        ...(s.crossStore.length > 0
          ? [
              '',
              'other stores:',
              ...s.crossStore.map(
                (x) =>
                  `  ${x.snapshot} in ${x.store.url}: ` +
                  (x.pinned === true ? 'pinned' : x.pinned === false ? 'UNPINNED (gc in that store may delete it; materialize to cut the dependency)' : 'pin status unknown'),
              ),
            ]
          : []),
      ])
    })
  examples(cmd, 'strata show main', 'strata show 3f2a9c1e --json')
}
