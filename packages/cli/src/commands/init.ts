import type { Command } from 'commander'
import { Repository } from '@strata/core'
import { examples, type App } from '../app.js'

/** `strata init`: create a repository in the store (a local directory is created if missing). */
export function registerInit(parent: Command, app: App): void {
  const cmd = parent
    .command('init')
    .description('create a Strata repository in the store (refused if the store does not enforce compare-and-swap)')
    .option('--unsafe-no-cas', 'create it even if the store ignores conditional writes: only safe with a single writer, ever')
    .action(async (opts: { unsafeNoCas?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const store = await ctx.openStore({ create: true })
      const repo = await Repository.init(store, { unsafeNoCas: opts.unsafeNoCas === true })
      ctx.emit({ store: store.url, storeId: repo.storeId }, () => [`Initialized an empty Strata repository in ${store.url}`])
    })
  examples(cmd, 'strata init --store ./data', 'STRATA_STORE=s3://my-bucket/strata strata init')
}
