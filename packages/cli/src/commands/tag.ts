import type { Command } from 'commander'
import type { TagRecord } from '@strata/core'
import { examples, type App } from '../app.js'
import type { CommandContext } from '../context.js'
import { shortId, table } from '../render.js'

/**
 * `strata tag <name> <branch|snapshot> [-m MSG]`, `tag create …`, `tag list`, `tag delete <name>`:
 * names for snapshots that never move and that gc keeps.
 */
export function registerTag(parent: Command, app: App): void {
  const create = async (ctx: CommandContext, name: string, spec: string, message: string | undefined): Promise<void> => {
    const repo = await ctx.repository()
    const tag = await repo.createTag(name, spec, message === undefined ? {} : { message })
    ctx.emit(tag, () => [`Tagged ${shortId(tag.snapshot)}${tag.snapshot.startsWith(spec) ? '' : ` (${spec})`} as ${tag.name}`])
  }

  const tag = parent
    .command('tag')
    .description('name a snapshot (a branch name tags its current head); tags never move and gc keeps what they name')
    .argument('<name>', "tag name: letters, digits, '_', '-', '.', '/'-separated segments (not list, create or delete — use `tag create` for those)")
    .argument('<target>', 'branch, tag or snapshot id (or a prefix of at least 4 hex digits)')
    .option('-m, --message <msg>', 'why it is tagged (shown by `strata tag list`)')
    .action(async (name: string, spec: string, opts: { message?: string }, self: Command) => {
      await create(app.context(self), name, spec, opts.message)
    })
  examples(tag, 'strata tag before-migration main -m "state before the v2 migration"', 'strata tag release/2026-01 3f2a9c1e', 'strata tag list', 'strata tag delete before-migration')

  const createCmd = tag
    .command('create')
    .description('tag a snapshot (the same as `strata tag <name> <target>`, for any name)')
    .argument('<name>', 'tag name')
    .argument('<target>', 'branch, tag or snapshot id')
    .option('-m, --message <msg>', 'why it is tagged')
    .action(async (name: string, spec: string, opts: { message?: string }, self: Command) => {
      await create(app.context(self), name, spec, opts.message)
    })
  examples(createCmd, 'strata tag create list main   # a tag named "list"')

  const list = tag
    .command('list')
    .alias('ls')
    .description('list tags')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const tags: TagRecord[] = await repo.listTags()
      ctx.emit({ tags }, () =>
        tags.length === 0 ? ['No tags. Create one with `strata tag <name> <branch|snapshot>`.'] : table(['TAG', 'SNAPSHOT', 'CREATED', 'MESSAGE'], tags.map((t) => [t.name, shortId(t.snapshot), t.createdAt, t.message])),
      )
    })
  examples(list, 'strata tag list', 'strata tag list --json')

  const del = tag
    .command('delete')
    .alias('rm')
    .description('delete a tag (its snapshot goes at the next gc unless something else keeps it)')
    .argument('<name>', 'tag to delete')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      const removed = await repo.deleteTag(name)
      ctx.emit({ deleted: removed.name, snapshot: removed.snapshot }, () => [`Deleted tag ${removed.name} (was ${shortId(removed.snapshot)})`])
    })
  examples(del, 'strata tag delete before-migration')
}
