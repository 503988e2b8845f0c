import type { Command } from 'commander'
import { probeStore } from '@strata/core'
import { examples, type App } from '../app.js'
import { ExitCode } from '../exit-codes.js'
import { openStore } from '../store-location.js'
import { keyValues, table } from '../render.js'

/**
 * `strata doctor [store]`: probe a store for what Strata needs — reachability, conditional
 * writes, list consistency, a safe upload concurrency. Exit 3 when it finds problems.
 */
export function registerDoctor(parent: Command, app: App): void {
  const cmd = parent
    .command('doctor')
    .description('probe a store: reachability, conditional writes (compare-and-swap), list consistency, safe upload concurrency (exit 3 on problems)')
    .argument('[store]', 'the store to probe (default: --store)')
    .action(async (location: string | undefined, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const store = await openStore(location ?? ctx.storeSpec(), { create: false })
      let report
      try {
        report = await probeStore(store, { onPhase: (p) => ctx.log(`probing ${p}…`) })
      } finally {
        await store.close?.()
      }
      const yes = (b: boolean | undefined): string => (b ? 'ok' : 'NO')
      ctx.emit(report, () => [
        ...keyValues([
          ['store', report.store],
          ['reachable', report.reachable.ok ? `ok (${report.reachable.latencyMs} ms)` : `NO: ${report.reachable.error}`],
          ['repository', report.repository ? `yes (store id ${report.repository.storeId})` : 'none'],
          ['writable', report.writable.ok ? 'ok' : `NO${report.writable.error ? `: ${report.writable.error}` : ''}`],
          ['create-only put', report.cas?.createOnly ?? '-'],
          ['replace-if-version', report.cas?.replaceIfVersion ?? '-'],
          ['list consistency', report.listConsistency ? `${yes(report.listConsistency.ok)} (${report.listConsistency.listedAfterWrite}/${report.listConsistency.written} listed at once)` : '-'],
          ['concurrency', report.recommendedConcurrency === null ? '-' : `use up to ${report.recommendedConcurrency} parallel uploads`],
          ['cleaned up', yes(report.cleanedUp)],
        ]),
        ...(report.concurrency.length > 0
          ? ['', ...table(['LEVEL', 'OBJECTS', 'MS', 'OBJECTS/S', 'MIB/S', 'ERRORS'], report.concurrency.map((s) => [s.level, s.objects, s.ms, s.objectsPerSecond, s.mibPerSecond, s.errors]))]
          : []),
        '',
        ...(report.ok ? ['ok: the store is fit for Strata'] : [`${report.problems.length} problem(s):`, ...report.problems.map((p) => `  ${p}`)]),
      ])
      if (!report.ok) ctx.exitCode = ExitCode.problems
    })
  examples(cmd, 'strata doctor s3://my-bucket/strata', 'strata doctor --store ./data --json')
}
