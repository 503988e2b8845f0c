import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { Option, type Command } from 'commander'
import type { LiveBranch, LiveCommitResult } from '@strata/sqlite'
import { examples, type App } from '../app.js'
import type { CommandContext } from '../context.js'
import { shortId, table } from '../render.js'
import { runChild } from '../run-child.js'
import { isCompleteSql, splitStatements } from '../sql-split.js'
import { BRANCH_ENV, DB_ENV } from './exec.js'
import { CACHE_DIR_ENV } from './sql.js'

interface ShellOptions {
  commit?: boolean
  discard?: boolean
  builtin?: boolean
  message?: string
  author?: string
  cacheDir?: string
}

/** The `--json` document of `strata shell`. */
export interface ShellResult {
  branch: string
  /** Which prompt ran: the system's `sqlite3` shell, or the built-in one. */
  via: 'sqlite3' | 'builtin'
  /** `commit`: the changes were committed; `discard`: they were thrown away; `none`: nothing changed. */
  action: 'commit' | 'discard' | 'none'
  changed: boolean
  snapshot: string
  previous: string
  pagesChanged: number
}

/**
 * `strata shell <branch> [--commit | --discard]`: an interactive SQL prompt on a working copy of
 * the branch — the system `sqlite3` shell when it is on PATH (through the same hand-over as
 * `exec`), else a small built-in prompt. On exit the changes are committed if asked: `--commit`,
 * `--discard`, or a question on a terminal; without a terminal and without `--commit` they are
 * discarded.
 */
export function registerShell(parent: Command, app: App): void {
  const cmd = parent
    .command('shell')
    .description('an interactive SQL prompt on a branch (the sqlite3 shell if installed); commits on exit when asked')
    .argument('<branch>', 'branch to open')
    .addOption(new Option('--commit', 'commit the changes on exit without asking').conflicts('discard'))
    .addOption(new Option('--discard', 'discard the changes on exit without asking').conflicts('commit'))
    .option('--builtin', 'use the built-in prompt even if the sqlite3 shell is installed')
    .option('-m, --message <msg>', 'commit message (default: "shell session")')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--cache-dir <dir>', `where the working file lives (default $${CACHE_DIR_ENV}, else $XDG_CACHE_HOME/strata or <tmp>/strata)`)
    .action(async (branch: string, opts: ShellOptions, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const { openBranch } = await import('@strata/sqlite')
      const cacheDir = opts.cacheDir ?? ctx.io.env[CACHE_DIR_ENV]
      const live = await openBranch(repo, branch, { mode: 'file', ...(cacheDir ? { cacheDir } : {}) })
      const previous = live.head
      const sqlite3 = opts.builtin ? null : onPath('sqlite3', ctx.io.env.PATH)
      let committed: LiveCommitResult | null = null
      let action: ShellResult['action'] = 'none'
      try {
        const out = ctx.json ? ctx.io.stderr : ctx.io.stdout
        if (sqlite3) {
          ctx.log(`sqlite3 on branch ${branch} (${shortId(previous)}); .quit or Ctrl-D to leave`)
          await live.lend((path) => runChild([sqlite3, path], { ...ctx.io.env, [DB_ENV]: path, [BRANCH_ENV]: branch }, { stdout: out, stderr: ctx.io.stderr }))
        } else {
          ctx.log(`SQL on branch ${branch} (${shortId(previous)}); end statements with ";", .help for commands, .quit or Ctrl-D to leave`)
          await builtinPrompt(live, out, ctx)
        }
        if (await live.hasUncommittedChanges()) {
          const keep = opts.commit === true || (!opts.discard && (await ask(ctx, `commit the changes to ${branch}? [y/N] `)))
          if (keep) {
            committed = await live.commit({ message: opts.message ?? 'shell session', ...(opts.author !== undefined ? { author: opts.author } : {}) })
            action = 'commit'
          } else action = 'discard'
        }
      } finally {
        await live.close({ uncommitted: 'discard' })
      }
      if (committed) ctx.log(`committed ${shortId(committed.snapshot)} on ${branch} (${committed.pagesChanged} page${committed.pagesChanged === 1 ? '' : 's'} changed)`)
      else if (action === 'discard') ctx.log(`changes discarded; ${branch} stays at ${shortId(previous)}${opts.discard ? '' : ' (pass --commit to keep them)'}`)
      else ctx.log(`nothing changed; ${branch} stays at ${shortId(previous)}`)
      const result: ShellResult = {
        branch,
        via: sqlite3 ? 'sqlite3' : 'builtin',
        action,
        changed: committed?.changed ?? false,
        snapshot: committed?.snapshot ?? previous,
        previous,
        pagesChanged: committed?.pagesChanged ?? 0,
      }
      ctx.emit(result, () => [])
    })
  examples(cmd, 'strata shell experiment', 'strata shell experiment --commit -m "fix three rows"', `echo "DELETE FROM sessions;" | strata shell main --builtin --commit`)
}

/** The first executable `name` in the directories of `path` (a PATH value), or null. */
function onPath(name: string, path: string | undefined): string | null {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here.
    }
  }
  return null
}

/** Ask a yes/no question on the terminal; false without one (nobody can answer). */
async function ask(ctx: CommandContext, question: string): Promise<boolean> {
  if (!process.stdin.isTTY || ctx.io.stderr.isTTY !== true) return false
  const rl = createInterface({ input: process.stdin, output: ctx.io.stderr })
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve))
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

const HELP = [
  '.tables            list tables and views',
  '.schema [NAME]     the CREATE statements (of NAME)',
  '.commit [MESSAGE]  commit the changes now',
  '.quit, .exit       leave (the changes are committed if asked; see --commit)',
  '.help              this list',
]

/**
 * A small SQL prompt on the live database: lines are gathered until they end a statement (as
 * SQLite decides), then every statement runs and the rows of those that return rows are printed
 * as tables. An error is printed and the prompt goes on, as in the sqlite3 shell.
 */
async function builtinPrompt(live: LiveBranch, out: NodeJS.WritableStream, ctx: CommandContext): Promise<void> {
  const interactive = process.stdin.isTTY === true
  const rl = createInterface({ input: process.stdin, ...(interactive ? { output: ctx.io.stderr, prompt: 'strata> ' } : {}), terminal: interactive })
  const print = (lines: readonly string[]): void => void out.write(lines.map((l) => l + '\n').join(''))
  const fail = (e: unknown): void => void ctx.io.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`)
  let buffer = ''
  const run = (sql: string): void => {
    for (const text of splitStatements(sql)) {
      try {
        const stmt = live.db.prepare(text).safeIntegers(true)
        if (stmt.reader) {
          const rows = stmt.raw(true).all() as unknown[][]
          print([...table(stmt.columns().map((c) => c.name), rows), `(${rows.length} row${rows.length === 1 ? '' : 's'})`])
        } else stmt.run()
      } catch (e) {
        fail(e)
        return
      }
    }
  }
  if (interactive) rl.prompt()
  for await (const line of rl) {
    if (buffer === '' && line.trim().startsWith('.')) {
      const [command, ...rest] = line.trim().split(/\s+/)
      const arg = rest.join(' ')
      if (command === '.quit' || command === '.exit') break
      try {
        if (command === '.help') print(HELP)
        else if (command === '.tables') print(live.db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[])
        else if (command === '.schema') print((live.db.prepare("SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL AND (?1 = '' OR name = ?1 OR tbl_name = ?1) ORDER BY rowid").pluck().all(arg) as string[]))
        else if (command === '.commit') {
          const c = await live.commit({ message: arg || 'shell session' })
          ctx.log(c.changed ? `committed ${shortId(c.snapshot)} (${c.pagesChanged} pages changed)` : 'nothing to commit')
        } else fail(`unknown command ${command}; .help lists them`)
      } catch (e) {
        fail(e)
      }
    } else {
      buffer += line + '\n'
      if (isCompleteSql(buffer)) {
        run(buffer)
        buffer = ''
      }
    }
    if (interactive) rl.setPrompt(buffer === '' ? 'strata> ' : '   ...> ')
    if (interactive) rl.prompt()
  }
  rl.close()
  if (buffer.trim() !== '') fail(`incomplete SQL at the end of the input (a missing ";"?): ${buffer.trim().slice(0, 80)}`)
}
