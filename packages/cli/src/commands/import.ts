import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { InvalidArgumentError, InvalidDatabaseError, MAIN_BRANCH, isStrataError, type ImportOptions, type ImportResult, type Repository } from '@strata/core'
import { examples, type App } from '../app.js'
import type { CliIo } from '../io.js'
import { formatBytes, shortId } from '../render.js'

/** `strata import <file.db|-> [--branch main] [-m MSG]`: a SQLite file becomes a standalone snapshot on a new branch. */
export function registerImport(parent: Command, app: App): void {
  const cmd = parent
    .command('import')
    .description('import a SQLite database file as a new branch (WAL and hot journals are handled through SQLite)')
    .argument('<file>', 'the SQLite database file, or - to read it from stdin (spooled to a temporary file in $TMPDIR first)')
    .option('-b, --branch <name>', 'name of the new branch', MAIN_BRANCH)
    .option('-m, --message <msg>', 'message recorded in the history')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .action(async (file: string, opts: { branch: string; message?: string; author?: string }, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const result: ImportResult = await ctx.withProgress('import', (progress) => {
        const importOpts: ImportOptions = {
          branch: opts.branch,
          ...(opts.message !== undefined ? { message: opts.message } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          ...progress,
        }
        return file === '-' ? importStdin(repo, ctx.io, importOpts) : importFile(repo, file, importOpts)
      })
      ctx.emit({ file, ...result }, () => [
        `Imported ${file === '-' ? 'stdin' : file} as branch ${result.branch} at ${shortId(result.snapshot)}: ${result.pageCount} pages of ${result.pageSize} bytes ` +
          `(${formatBytes(result.bytes)}), ${formatBytes(result.bytesWritten)} written in ${result.segments} segment(s)` +
          (result.segmentsAlreadyStored > 0 ? ` (${result.segmentsAlreadyStored} already stored, not uploaded again)` : ''),
      ])
    })
  examples(cmd, 'strata import ./prod.db', 'strata import ./fixture.sqlite --branch fixtures/base -m "fixture v3"', 'gunzip -c prod.db.gz | strata import - --branch prod')
}

// Through SQLite (a consistent copy via the backup API), so a database in WAL mode or with a hot
// journal imports its committed state instead of being refused or half-read.
async function importFile(repo: Repository, file: string, opts: ImportOptions): Promise<ImportResult> {
  const { importLiveDatabase } = await import('@strata/sqlite')
  return importLiveDatabase(repo, file, opts)
}

// SQLite opens files, not pipes: spool stdin to a private temporary file, import it, remove it.
async function importStdin(repo: Repository, io: CliIo, opts: ImportOptions): Promise<ImportResult> {
  const stdin = io.stdin
  if (!stdin || stdin.isTTY) {
    throw new InvalidArgumentError({ argument: 'file', reason: '- reads the database from stdin, but stdin is a terminal: pipe a file in (strata import - < app.db)' })
  }
  const dir = await mkdtemp(join(io.env.TMPDIR || tmpdir(), 'strata-import-'))
  try {
    const file = join(dir, 'stdin.db')
    await pipeline(stdin, createWriteStream(file, { flags: 'wx', mode: 0o600 }))
    // SQLite would open an empty file as an empty database; an empty pipe is a failed producer.
    if ((await stat(file)).size === 0) throw new InvalidDatabaseError({ path: 'stdin', reason: 'nothing was piped in (0 bytes)' })
    return await importFile(repo, file, opts).catch((e: unknown) => {
      // The spool file is gone after this; name what the user gave.
      if (isStrataError(e, 'STRATA_INVALID_DATABASE')) throw new InvalidDatabaseError({ path: 'stdin', reason: e.data.reason as string }, { cause: e })
      throw e
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
