import type { Command } from 'commander'
import type { VerifyOptions } from '@strata/core'
import { examples, type App } from '../app.js'
import { ExitCode } from '../exit-codes.js'

/** `strata verify [--deep]`: every branch resolves fully; exit 3 if anything is wrong. */
export function registerVerify(parent: Command, app: App): void {
  const cmd = parent
    .command('verify')
    .description('check that every branch and retained snapshot is fully readable (exit 3 on problems)')
    .option('--deep', 're-read and re-hash every stored page and check every snapshot checksum')
    .option('--integrity', 'also export each branch head and run PRAGMA integrity_check on it')
    .action(async (opts: { deep?: boolean; integrity?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const verifyOpts: VerifyOptions = { deep: opts.deep === true }
      if (opts.integrity) {
        const { integrityCheck } = await import('@strata/sqlite')
        verifyOpts.integrity = async ({ path }) => {
          const report = integrityCheck(path)
          return report.ok ? [] : report.messages
        }
      }
      const result = await ctx.withProgress('verify', (progress) => repo.verify({ ...verifyOpts, ...progress }))
      const c = result.checked
      const summary = `${c.refs} branch(es), ${c.snapshots} snapshot(s), ${c.segments} segment(s), ${c.pages} page(s)${opts.deep ? ' re-hashed' : ''}`
      const others = result.crossStore.map(
        (d) =>
          `stacks on ${d.url} (store ${d.storeId}, ${d.status}): ${d.snapshots.length} snapshot(s)` +
          (d.snapshots.some((s) => s.pinned === false) ? ', some UNPINNED (gc there may delete them)' : d.snapshots.length > 0 && d.snapshots.every((s) => s.pinned) ? ', pinned' : ''),
      )
      ctx.emit(result, () => [
        ...(result.ok
          ? [`ok: checked ${summary}`]
          : [`${result.problems.length} problem(s) found (checked ${summary}):`, ...result.problems.map((p) => `  ${p.code}: ${p.message}`)]),
        ...others,
      ])
      if (!result.ok) {
        ctx.log('the store is damaged: export what is still readable (strata export) and restore the missing objects from a backup')
        ctx.exitCode = ExitCode.problems
      }
    })
  examples(cmd, 'strata verify', 'strata verify --deep --json')
}
