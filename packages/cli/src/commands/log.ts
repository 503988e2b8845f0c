import type { Command } from 'commander'
import { MAIN_BRANCH } from '@strata/core'
import { examples, positiveInt, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'
import { pointInTime } from '../time-spec.js'

/** `strata log [<branch|snapshot>] [--limit N] [--since T] [--until T] [--tag NAME]`: history, newest first. */
export function registerLog(parent: Command, app: App): void {
  const cmd = parent
    .command('log')
    .description('show the history of a branch (or of the snapshot given), newest first')
    .argument('[branch]', 'branch name or snapshot id', MAIN_BRANCH)
    .option('-n, --limit <n>', 'show at most n entries', positiveInt('--limit'))
    .option('--since <time>', 'only snapshots created at or after this time: ISO (2026-01-31, 2026-01-31T12:00Z) or an age (2h, 3d)', pointInTime('--since'))
    .option('--until <time>', 'only snapshots created at or before this time (same forms as --since)', pointInTime('--until'))
    .option('--tag <name>', 'only snapshots carrying this tag')
    .action(async (spec: string, opts: { limit?: number; since?: Date; until?: Date; tag?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const { limit, since, until, tag } = opts
      const entries = await repo.log(spec, { ...(limit !== undefined ? { limit } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}), ...(tag !== undefined ? { tag } : {}) })
      ctx.emit({ target: spec, entries }, () =>
        entries.flatMap((e, i) => [
          ...(i > 0 ? [''] : []),
          `snapshot ${e.id}${e.tags.length > 0 ? ` (tags: ${e.tags.join(', ')})` : ''}`,
          // Both parents, as git shows a merge: the branch's previous head, then the snapshot merged in.
          ...(e.merge ? [`Merge:   ${shortId(e.parent)} ${shortId(e.merge.source)}${e.merge.sourceBranch ? ` (${e.merge.sourceBranch})` : ''}, base ${shortId(e.merge.base)}`] : []),
          `Author:  ${e.author}`,
          `Date:    ${e.createdAt}`,
          `Op:      ${e.operation}${e.branch ? ` on ${e.branch}` : ''} — ${e.pageCount} pages, ${e.ownPages} own (${formatBytes(e.ownBytes)})${e.stacked ? ', stacked' : ', standalone'}`,
          ...(e.message ? ['', ...e.message.split('\n').map((l) => `    ${l}`)] : []),
        ]),
      )
    })
  examples(cmd, 'strata log', 'strata log experiment --limit 5', 'strata log main --since 2d --until 2h', 'strata log main --tag release --json')
}
