import type { Command } from 'commander'
import { MAIN_BRANCH } from '@strata/core'
import { examples, positiveInt, type App } from '../app.js'
import { formatBytes } from '../render.js'

/** `strata log [<branch|snapshot>] [--limit N]`: history, newest first. */
export function registerLog(parent: Command, app: App): void {
  const cmd = parent
    .command('log')
    .description('show the history of a branch (or of the snapshot given), newest first')
    .argument('[branch]', 'branch name or snapshot id', MAIN_BRANCH)
    .option('-n, --limit <n>', 'show at most n entries', positiveInt('--limit'))
    .action(async (spec: string, opts: { limit?: number }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const entries = await repo.log(spec, opts.limit === undefined ? {} : { limit: opts.limit })
      ctx.emit({ target: spec, entries }, () =>
        entries.flatMap((e, i) => [
          ...(i > 0 ? [''] : []),
          `snapshot ${e.id}${e.tags.length > 0 ? ` (tags: ${e.tags.join(', ')})` : ''}`,
          `Author:  ${e.author}`,
          `Date:    ${e.createdAt}`,
          `Op:      ${e.operation}${e.branch ? ` on ${e.branch}` : ''} — ${e.pageCount} pages, ${e.ownPages} own (${formatBytes(e.ownBytes)})${e.stacked ? ', stacked' : ', standalone'}`,
          ...(e.message ? ['', ...e.message.split('\n').map((l) => `    ${l}`)] : []),
        ]),
      )
    })
  examples(cmd, 'strata log', 'strata log experiment --limit 5', 'strata log main --json')
}
