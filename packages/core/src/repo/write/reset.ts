import { InvalidArgumentError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import { validateName } from '../../format/names.js'
import { type CommitResult } from './commit.js'
import { requireRef } from '../branches/refs.js'
import { type RepoContext } from '../read/context.js'
import { publishSnapshot } from './publish-snapshot.js'
import { withSnapshotsProtected } from '../branches/intents.js'
import { commitResult } from './commit.js'

/** Options for reset. */
export interface ResetOptions {
  /** Allow a snapshot that is not in the branch's history. Default false. */
  force?: boolean
  message?: string
  author?: string
}

/**
 * Point `branch` back at the content of an earlier snapshot `to` (time travel). The branch gets a
 * new head snapshot with exactly `to`'s content (same pages, fallback and checksum — no page is
 * copied) whose parent is the old head, so the snapshots after `to` stay reachable through
 * history until retention lets gc free them, and `log` shows the reset. `to` must be in the
 * branch's history (along parent links from the head) unless `force`; the error explains.
 * The ref moves by compare-and-swap. A gc running meanwhile cannot free `to` under the new head:
 * the reset either publishes a head whose objects all exist, or fails with `MissingObjectError`.
 */
export async function reset(ctx: RepoContext, branch: string, to: SnapshotId, opts: ResetOptions = {}): Promise<CommitResult> {
  validateName(branch)
  const current = await requireRef(ctx.store, branch)
  const target = await ctx.chains.manifest(to)
  if (!opts.force && !(await inHistory(ctx, current.ref.head, to))) {
    throw new InvalidArgumentError({
      argument: 'snapshot',
      reason: `${to.slice(0, 12)} is not in the history of branch "${branch}" (see \`strata log ${branch}\`); resetting to it would graft another branch's state onto this one`,
    }, { hint: 'force' })
  }
  // `to` may be reachable from nothing but this operation by now: an intent keeps a concurrent gc
  // from freeing it (see gc.ts). The new head reads `to`'s segments and fallback.
  const published = await withSnapshotsProtected(ctx, 'reset', [to], () => publishSnapshot(ctx, {
    branch: current,
    manifest: {
      pageSize: target.pageSize,
      pageCount: target.pageCount,
      fallback: target.fallback,
      message: opts.message ?? `reset to ${to}`,
      author: opts.author,
      tags: [],
      operation: 'reset',
      checksum: target.checksum,
      segments: target.segments,
      pages: target.pages,
    },
    // Commits after the reset stack where `to` stacked in this store; on the new head itself when
    // `to` is standalone or stacks on another store.
    base: target.fallback && !target.fallback.store ? target.fallback.snapshot : 'self',
  }))
  return commitResult(published, { pageCount: target.pageCount, ownPages: target.pages.pageNos.length, pagesUploaded: 0, bytesWritten: 0 })
}

/** Whether `id` is `head` or one of its ancestors along parent links. */
export async function inHistory(ctx: RepoContext, head: SnapshotId, id: SnapshotId): Promise<boolean> {
  let cur: SnapshotId | null = head
  const seen = new Set<string>()
  while (cur && !seen.has(cur)) {
    if (cur === id) return true
    seen.add(cur)
    try {
      cur = (await ctx.chains.manifest(cur)).parent
    } catch {
      return false
    }
  }
  return false
}
