import type { Command } from 'commander'
import { InvalidArgumentError, type StreamExportResult } from '@strata/core'
import { fileErrorFrom } from '@strata/core/engine'
import { CliError } from '../cli-error.js'
import { examples, type App } from '../app.js'
import type { CommandContext } from '../context.js'
import { binaryWriter } from '../io.js'
import { formatBytes, shortId } from '../render.js'

/** `strata export <branch|snapshot> <out.db|-> [--check] [--overwrite]`: write a plain SQLite file, or stream it to stdout. */
export function registerExport(parent: Command, app: App): void {
  const cmd = parent
    .command('export')
    .description('write a branch or snapshot out as a plain SQLite file, or to stdout with -  (verified against its checksum)')
    .argument('<target>', 'branch name or snapshot id')
    .argument('<out>', 'file to write (must not exist unless --overwrite), or - for stdout')
    .option('--check', 'run PRAGMA integrity_check on the written file (not with -)')
    .option('--overwrite', 'replace an existing file')
    .action(async (spec: string, out: string, opts: { check?: boolean; overwrite?: boolean }, self: Command) => {
      const ctx = app.context(self)
      if (out === '-') return exportToStdout(ctx, spec, opts)
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
  cmd.addHelpText(
    'after',
    [
      '',
      'With - the database streams to stdout in page order: every page is checked against its hash as it is',
      "written, and the whole database against the snapshot's checksum at the end. A pipe cannot unwrite",
      'bytes: if anything fails, strata exits non-zero with the reason on stderr, and what already reached',
      'stdout is incomplete and must be discarded (in scripts, set -o pipefail). The summary goes to stderr.',
    ].join('\n'),
  )
  examples(
    cmd,
    'strata export experiment ./experiment.db --check',
    'strata export 3f2a9c1e ./old.db --overwrite',
    'set -o pipefail; strata export main - | gzip > main.db.gz',
  )
}

async function exportToStdout(ctx: CommandContext, spec: string, opts: { check?: boolean }): Promise<void> {
  if (opts.check) {
    throw new InvalidArgumentError({ argument: '--check', reason: 'a database streamed to stdout cannot be checked afterwards; export to a file to use --check' })
  }
  if (ctx.json) {
    throw new InvalidArgumentError({ argument: '--json', reason: '- streams the database to stdout, where --json would print its document; leave out --json (the summary goes to stderr)' })
  }
  if (ctx.io.stdout.isTTY) {
    throw new InvalidArgumentError({ argument: 'out', reason: '- writes the binary database to stdout, which is a terminal: redirect or pipe it (strata export main - | gzip > main.db.gz)' })
  }
  const repo = await ctx.repository()
  const write = binaryWriter(ctx.io.stdout)
  let written = 0
  let writeFailed: unknown = null
  let result: StreamExportResult
  try {
    result = await ctx.withProgress('export', (progress) =>
      repo.exportStream(
        spec,
        async (chunk) => {
          await write(chunk).catch((e: unknown) => {
            writeFailed = e
            throw e
          })
          written += chunk.length
        },
        progress,
      ),
    )
  } catch (e) {
    // Say it even with --quiet: a script must not keep what it received.
    ctx.io.stderr.write(`strata: the export to stdout stopped after ${written} bytes were confirmed written; what reached stdout is incomplete, discard it\n`)
    throw (writeFailed === e ? fileErrorFrom(e, 'stdout') : null) ?? e
  }
  ctx.log(`Exported ${result.branch ?? shortId(result.snapshot)} (${shortId(result.snapshot)}) to stdout: ${result.pageCount} pages, ${formatBytes(result.bytes)}, checksum ${result.checksum}`)
}
