import type { SnapshotId } from '../format/ids.js'
import type { Repository } from './repository.js'

/** One snapshot in a branch's history. */
export interface LogEntry {
  id: SnapshotId
  parent: SnapshotId | null
  branch: string | null
  message: string
  author: string
  createdAt: string
  tags: string[]
  operation: string
  pageCount: number
  /** Pages the snapshot owns (its delta, or every page for a standalone snapshot). */
  ownPages: number
  ownBytes: number
  /** Whether it falls back to another snapshot. */
  stacked: boolean
}

/**
 * The history from snapshot `from` back along `parent` links, newest first, at most `limit`
 * entries. Stops quietly at a parent gc has already freed (history past retention).
 */
export async function historyOf(repo: Repository, from: SnapshotId, opts: { limit?: number }): Promise<LogEntry[]> {
  const out: LogEntry[] = []
  let id: SnapshotId | null = from
  const limit = opts.limit ?? Infinity
  while (id && out.length < limit) {
    let m
    try {
      m = await repo.chains.manifest(id)
    } catch (e) {
      if (out.length > 0 && (e as { code?: string }).code === 'STRATA_MISSING_OBJECT') break
      throw e
    }
    out.push({
      id,
      parent: m.parent,
      branch: m.branchName,
      message: m.message,
      author: m.author,
      createdAt: m.createdAt,
      tags: m.tags,
      operation: m.operation,
      pageCount: m.pageCount,
      ownPages: m.pages.pageNos.length,
      ownBytes: m.pages.pageNos.length * m.pageSize,
      stacked: m.fallback !== null,
    })
    id = m.parent
  }
  return out
}
