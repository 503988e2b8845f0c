import type { Command } from 'commander'
import { CliError } from '../cli-error.js'
import { examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'

/** `strata export <branch|snapshot> <out.db> [--check] [--overwrite]`: write a plain SQLite file. */
export function registerExport(parent: Command, app: App): void {
  const cmd = parent
    .command('export')
    .description('write a branch or snapshot out as a plain SQLite file (verified against its checksum)')
    .argument('<target>', 'branch name or snapshot id')
    .argument('<out>', 'file to write; must not exist unless --overwrite')
    .option('--check', 'run PRAGMA integrity_check on the written file')
    .option('--overwrite', 'replace an existing file')
    .action(async (spec: string, out: string, opts: { check?: boolean; overwrite?: boolean }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result = await ctx.withProgress('export', (progress) => repo.export(spec, out, { overwrite: opts.overwrite === true, ...progress }))
      let check: { ok: boolean; messages: string[] } | null = null
      if (opts.check) {
        const { integrityCheck } = await import('@strata/sqlite')
        check = integrityCheck(out)
        if (!check.ok) {
          throw new CliError(
            'STRATA_INTEGRITY_CHECK_FAILED',
            `${out} was written but fails PRAGMA integrity_check: ${check.messages.slice(0, 5).join('; ')}` +
              `${check.messages.length > 5 ? ` (and ${check.messages.length - 5} more)` : ''}; the stored database itself is damaged — ` +
              'run `strata verify --deep` and export an earlier snapshot (see `strata log`)',
            { data: { path: out, snapshot: result.snapshot, messages: check.messages } },
          )
        }
      }
      ctx.emit({ ...result, check }, () => [
        `Exported ${result.branch ?? shortId(result.snapshot)} (${shortId(result.snapshot)}) to ${out}: ${result.pageCount} pages, ${formatBytes(result.bytes)}` +
          (check ? ', integrity_check ok' : ''),
      ])
    })
  examples(cmd, 'strata export experiment ./experiment.db --check', 'strata export 3f2a9c1e ./old.db --overwrite')
}
