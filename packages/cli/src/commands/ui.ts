import type { Command } from 'commander'
import { examples, positiveInt, type App } from '../app.js'
import { startUiServer, UI_HOST } from '../ui/server.js'
import { CACHE_DIR_ENV } from './sql.js'

/**
 * `strata ui [--port N]`: serve a read-only page about the store on 127.0.0.1 — the branch tree
 * with storage per branch, a branch's history, the diff of two snapshots by table and row — until
 * interrupted. The address printed carries a random token; requests without it are refused.
 */
export function registerUi(parent: Command, app: App): void {
  const cmd = parent
    .command('ui')
    .description(`a read-only web page on ${UI_HOST}: the branch tree, storage per branch, history, diffs by table and row`)
    .option('--port <port>', `port on ${UI_HOST} (default: any free port)`, positiveInt('--port'))
    .option('--collapse <n>', 'fold more than n sibling leaves with one name stem (ci-1, ci-2, …) in the tree', positiveInt('--collapse'), 8)
    .action(async (opts: { port?: number; collapse: number }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const cacheDir = ctx.io.env[CACHE_DIR_ENV]
      const server = await startUiServer(repo, { collapse: opts.collapse, ...(opts.port !== undefined ? { port: opts.port } : {}), ...(cacheDir ? { cacheDir } : {}) })
      ctx.emit({ url: server.url, host: UI_HOST, port: server.port, token: server.token }, () => [`Strata UI (read-only): ${server.url}`])
      ctx.log('Serving until interrupted (Ctrl-C). Only this address, with its token, is answered.')
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      await server.close()
    })
  examples(cmd, 'strata ui', 'strata ui --port 8765', 'strata ui --json   # {"url": …, "port": …, "token": …} for scripts')
}
