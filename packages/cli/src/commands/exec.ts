import { copyFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { InvalidArgumentError, type BranchInfo } from '@strata/core'
import type { LiveCommitResult } from '@strata/sqlite'
import { duration, examples, type App } from '../app.js'
import { shortId } from '../render.js'
import { runChild, type ChildOutcome } from '../run-child.js'
import { CACHE_DIR_ENV } from './sql.js'

/** The environment variable holding the working database's path in the program `exec` runs. */
export const DB_ENV = 'STRATA_DB'
/** The environment variable holding the branch name in the program `exec` runs. */
export const BRANCH_ENV = 'STRATA_BRANCH'
/** Replaced by the working database's path in every argument of the program. */
export const DB_PLACEHOLDER = '{db}'

interface ExecOptions {
  create?: boolean
  from?: string
  ttl?: number
  commit?: boolean
  discard?: boolean
  message?: string
  author?: string
  cacheDir?: string
}

/** The `--json` document of `strata exec`. */
export interface ExecResult {
  branch: string
  /** True if `--create` created the branch. */
  created: boolean
  /** The program and its arguments as given (before `{db}` substitution). */
  command: string[]
  /** The program's exit status (null if a signal ended it) and signal (null if it exited). */
  exit: { code: number | null; signal: string | null }
  /** What `strata` exits with: the program's status, or 128 + the signal number. */
  exitCode: number
  /** What happened to the program's changes. */
  action: 'commit' | 'discard'
  /** A new snapshot was committed. */
  changed: boolean
  /** The branch's head afterwards. */
  snapshot: string
  /** The branch's head before. */
  previous: string
  /** Pages committed (0 when discarded or unchanged). */
  pagesChanged: number
  /** With `discard`: whether there were changes to throw away. */
  discardedChanges: boolean | null
}

/**
 * `strata exec <branch> [--create --from <src> --ttl 1h] [--commit | --discard] -- <command…>`:
 * check the branch out to a working file, run a program on it (`STRATA_DB`, `{db}`), then commit
 * the changed pages if it exited 0 — or with `--commit` whatever it returned — and discard them
 * otherwise. Exits with the program's code.
 */
export function registerExec(parent: Command, app: App): void {
  const cmd = parent
    .command('exec')
    .description('run a program on a working copy of a branch; commit what it changed if it exits 0')
    .argument('<branch>', 'branch to check out')
    .argument('<command...>', `the program and its arguments, after "--"; ${DB_PLACEHOLDER} in any argument becomes the database path`)
    .option('--create', 'create the branch first (an error if it exists)')
    .option('--from <branch|snapshot>', 'with --create: where to branch from, as in `branch create` (default main)')
    .option('--ttl <duration>', 'with --create: gc deletes the branch this long after creation (30m, 2h, 7d)', duration('--ttl'))
    .addOption(new Option('--commit', 'commit what changed even if the program exits non-zero or is killed').conflicts('discard'))
    .addOption(new Option('--discard', 'never commit, whatever the program returns (a dry run)').conflicts('commit'))
    .option('-m, --message <msg>', 'commit message (default: "exec: <command>")')
    .option('--author <name>', 'author recorded in the history (default $USER)')
    .option('--cache-dir <dir>', `where the working file lives (default $${CACHE_DIR_ENV}, else $XDG_CACHE_HOME/strata or <tmp>/strata)`)
    .action(async (branch: string, command: string[], opts: ExecOptions, self: Command) => {
      const ctx = app.context(self)
      if (!opts.create && (opts.from !== undefined || opts.ttl !== undefined)) {
        throw new InvalidArgumentError({ argument: opts.from !== undefined ? '--from' : '--ttl', reason: 'it applies only with --create' })
      }
      const repo = await ctx.repository()
      let created: BranchInfo | null = null
      if (opts.create) {
        created = await repo.createBranch(branch, { from: opts.from ?? 'main', ...(opts.ttl !== undefined ? { ttlMs: opts.ttl } : {}) })
        ctx.log(`created branch ${branch} from ${opts.from ?? 'main'} at ${shortId(created.head)}${created.expiresAt ? `; gc deletes it after ${created.expiresAt}` : ''}`)
      }
      // Loaded on demand: better-sqlite3 is a native module that most commands never need.
      const { openBranch } = await import('@strata/sqlite')
      const cacheDir = opts.cacheDir ?? ctx.io.env[CACHE_DIR_ENV]
      const live = await openBranch(repo, branch, { mode: 'file', ...(cacheDir ? { cacheDir } : {}) })
      const previous = live.head
      let outcome: ChildOutcome
      let committed: LiveCommitResult | null = null
      let discardedChanges: boolean | null = null
      try {
        outcome = await live.lend((path) =>
          runChild(
            command.map((a) => a.split(DB_PLACEHOLDER).join(path)),
            { ...ctx.io.env, [DB_ENV]: path, [BRANCH_ENV]: branch },
            // With --json, stdout carries one document: the program's output goes to stderr.
            { stdout: ctx.json ? ctx.io.stderr : ctx.io.stdout, stderr: ctx.io.stderr },
          ),
        )
        const commit = opts.discard ? false : opts.commit === true || outcome.exitCode === 0
        if (commit) {
          try {
            committed = await live.commit({
              message: opts.message ?? `exec: ${command.join(' ')}`.slice(0, 200),
              ...(opts.author !== undefined ? { author: opts.author } : {}),
            })
          } catch (e) {
            // The program's work is not lost with the working file: keep a copy next to it.
            const kept = await live.lend(async (path) => {
              const copy = path.replace(/\.sqlite$/, '') + '.kept.sqlite'
              await copyFile(path, copy)
              return copy
            })
            ctx.log(`${command[0]} ${ended(outcome)}, but its changes could not be committed; its database is kept in ${kept}`)
            throw e
          }
        } else {
          discardedChanges = await live.hasUncommittedChanges()
        }
      } finally {
        await live.close({ uncommitted: 'discard' })
      }
      const how = ended(outcome)
      if (committed?.changed) ctx.log(`${command[0]} ${how}; committed ${shortId(committed.snapshot)} on ${branch} (${committed.pagesChanged} page${committed.pagesChanged === 1 ? '' : 's'} changed)`)
      else if (committed) ctx.log(`${command[0]} ${how}; no page changed, nothing committed (${branch} stays at ${shortId(previous)})`)
      else ctx.log(`${command[0]} ${how}; ${discardedChanges ? 'its changes were discarded' : 'it changed nothing'} (${branch} stays at ${shortId(previous)})`)
      const result: ExecResult = {
        branch,
        created: created !== null,
        command,
        exit: { code: outcome.code, signal: outcome.signal },
        exitCode: outcome.exitCode,
        action: committed ? 'commit' : 'discard',
        changed: committed?.changed ?? false,
        snapshot: committed?.snapshot ?? previous,
        previous,
        pagesChanged: committed?.pagesChanged ?? 0,
        discardedChanges,
      }
      ctx.emit(result, () => [])
      ctx.exitCode = outcome.exitCode
    })
  cmd.addHelpText(
    'after',
    [
      '',
      'The program gets the path of a working copy of the branch in $STRATA_DB (and in place of',
      '{db} in its arguments) and may open it with any SQLite library, in any journal mode.',
      'Exit 0: the pages it changed are committed. Non-zero, or killed: nothing is committed',
      '(unless --commit). strata exits with the program\'s code (128+N for signal N; 127 if the',
      'program is not found). SIGTERM and SIGHUP are passed on to the program; so are SIGINT and',
      'SIGQUIT unless stdin is a terminal (which sends them to both). If strata itself is killed,',
      'the branch stays as it was.',
    ].join('\n'),
  )
  examples(
    cmd,
    `strata exec main -- sqlite3 {db} "SELECT count(*) FROM users"`,
    `strata exec ci-$RUN --create --from main --ttl 2h -- npm test`,
    `strata exec try/migration -m "add plan" -- python3 migrate.py`,
    `strata exec experiment --discard -- sh -c 'sqlite3 "$STRATA_DB" < cleanup.sql'`,
  )
}

/** `exited 3`, `was killed by SIGTERM`. */
function ended(outcome: ChildOutcome): string {
  return outcome.signal ? `was killed by ${outcome.signal}` : `exited ${outcome.code}`
}
