import type { Command } from 'commander'
import { MAIN_BRANCH, type ImportOptions, type ImportResult, type Repository } from '@strata/core'
import { examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'

/** `strata import <file.db> [--branch main] [-m MSG]`: a SQLite file becomes a standalone snapshot on a new branch. */
export function registerImport(parent: Command, app: App): void {
  const cmd = parent
    .command('import')
    .description('import a SQLite database file as a new branch (WAL and hot journals are handled through SQLite)')
    .argument('<file>', 'the SQLite database file')
    .option('-b, --branch <name>', 'name of the new branch', MAIN_BRANCH)
    .option('-m, --message <msg>', 'message recorded in the history')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .action(async (file: string, opts: { branch: string; message?: string; author?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result: ImportResult = await ctx.withProgress('import', (progress) =>
        importFile(repo, file, {
          branch: opts.branch,
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          ...progress,
        }),
      )
      ctx.emit({ file, ...result }, () => [
        `Imported ${file} as branch ${result.branch} at ${shortId(result.snapshot)}: ${result.pageCount} pages of ${result.pageSize} bytes ` +
          `(${formatBytes(result.bytes)}), ${formatBytes(result.bytesWritten)} written in ${result.segments} segment(s)` +
          (result.segmentsAlreadyStored > 0 ? ` (${result.segmentsAlreadyStored} already stored, not uploaded again)` : ''),
      ])
    })
  examples(cmd, 'strata import ./prod.db', 'strata import ./fixture.sqlite --branch fixtures/base -m "fixture v3"')
}

// Through SQLite (a consistent copy via the backup API), so a database in WAL mode or with a hot
// journal imports its committed state instead of being refused or half-read.
async function importFile(repo: Repository, file: string, opts: ImportOptions): Promise<ImportResult> {
  const { importLiveDatabase } = await import('@strata/sqlite')
  return importLiveDatabase(repo, file, opts)
}
