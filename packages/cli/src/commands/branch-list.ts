import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { shortId, table } from '../render.js'

/** `strata branch list`: every branch with its head, base and origin. */
export function registerBranchList(parent: Command, app: App): void {
  const cmd = parent
    .command('list')
    .alias('ls')
    .description('list branches')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const branches = await repo.listBranches()
      ctx.emit({ branches }, () =>
        table(
          ['BRANCH', 'HEAD', 'BASE', 'FROM', 'UPDATED'],
          branches.map((b) => [b.name, shortId(b.head), shortId(b.base), b.sourceBranch ?? (b.source ? shortId(b.source) : '(import)'), b.updatedAt]),
        ),
      )
    })
  examples(cmd, 'strata branch list', 'strata branch list --json | jq -r ".branches[].name"')
}
