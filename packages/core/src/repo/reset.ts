import { InvalidArgumentError } from '../errors/index.js'
import type { SnapshotId } from '../format/ids.js'
import { encodeManifest } from '../format/manifest.js'
import { validateName } from '../format/names.js'
import type { Ref } from '../format/ref.js'
import { putManifest, type CommitResult } from './commit.js'
import { requireRef, updateRef } from './refs.js'
import type { Repository } from './repository.js'

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
 * The ref moves by compare-and-swap.
 */
export async function reset(repo: Repository, branch: string, to: SnapshotId, opts: ResetOptions = {}): Promise<CommitResult> {
  validateName(branch)
  const current = await requireRef(repo.store, branch)
  const target = await repo.snapshot(to)
  if (!opts.force && !(await inHistory(repo, current.ref.head, to))) {
    throw new InvalidArgumentError({
      argument: 'snapshot',
      reason: `${to.slice(0, 12)} is not in the history of branch "${branch}" (see \`strata log ${branch}\`); resetting to it would graft another branch's state onto this one — pass --force if that is what you want`,
    })
  }
  const encoded = encodeManifest({
    ...target,
    branchId: current.ref.branchId,
    branchName: branch,
    parent: current.ref.head,
    message: opts.message ?? `reset to ${to}`,
    author: opts.author ?? repo.options.defaultAuthor,
    createdAt: repo.nowIso(),
    tags: [],
    operation: 'reset',
  })
  await putManifest(repo, encoded.id, encoded.bytes)
  // Commits after the reset stack where `to` stacked in this store; on the new head itself when
  // `to` is standalone or stacks on another store.
  const base = target.fallback && !target.fallback.store ? target.fallback.snapshot : encoded.id
  const next: Ref = { ...current.ref, head: encoded.id, base, updatedAt: repo.nowIso() }
  await updateRef(repo.store, next, current.version)
  return {
    changed: true,
    snapshot: encoded.id,
    previous: current.ref.head,
    branch,
    pageCount: target.pageCount,
    ownPages: target.pages.pageNos.length,
    pagesUploaded: 0,
    bytesWritten: encoded.bytes.byteLength,
  }
}

/** Whether `id` is `head` or one of its ancestors along parent links. */
export async function inHistory(repo: Repository, head: SnapshotId, id: SnapshotId): Promise<boolean> {
  let cur: SnapshotId | null = head
  const seen = new Set<string>()
  while (cur && !seen.has(cur)) {
    if (cur === id) return true
    seen.add(cur)
    try {
      cur = (await repo.snapshot(cur)).parent
    } catch {
      return false
    }
  }
  return false
}
