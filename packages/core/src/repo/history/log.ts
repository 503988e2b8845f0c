import { isStrataError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import type { MergeParents } from '../../format/manifest.js'
import { tagsBySnapshot } from './tags.js'
import { type RepoContext } from '../read/context.js'

/** One snapshot in a branch's history. */
export interface LogEntry {
  id: SnapshotId
  parent: SnapshotId | null
  branch: string | null
  message: string
  author: string
  createdAt: string
  /** Tags recorded in the snapshot's metadata at commit, then the names of tags (`createTag`) on it. */
  tags: string[]
  operation: string
  pageCount: number
  /** Pages the snapshot owns (its delta, or every page for a standalone snapshot). */
  ownPages: number
  ownBytes: number
  /** Whether it falls back to another snapshot. */
  stacked: boolean
  /** A merge commit's second parent (the snapshot merged in) and its base; null for any other snapshot. */
  merge: MergeParents | null
}

/** Filters for {@link historyOf}. */
export interface LogOptions {
  /** At most this many entries (after filtering). */
  limit?: number
  /** Only snapshots created at or after this time. */
  since?: Date
  /** Only snapshots created at or before this time. */
  until?: Date
  /** Only snapshots carrying this tag: in their metadata, or as a tag (`createTag`) naming them. */
  tag?: string
}

/**
 * The history from snapshot `from` back along `parent` links (the branch's own line: a merge
 * commit is listed with the snapshot it merged in, which is not followed), newest first, filtered, at most
 * `limit` entries. Stops quietly at a parent gc has already freed (history past retention).
 */
export async function historyOf(ctx: RepoContext, from: SnapshotId, opts: LogOptions): Promise<LogEntry[]> {
  const out: LogEntry[] = []
  let id: SnapshotId | null = from
  const limit = opts.limit ?? Infinity
  const seen = new Set<string>()
  const tagged = await tagsBySnapshot(ctx)
  while (id && out.length < limit && !seen.has(id)) {
    const self: SnapshotId = id
    seen.add(self)
    let m
    try {
      m = await ctx.chains.manifest(id)
    } catch (e) {
      if (self !== from && isStrataError(e, 'STRATA_MISSING_OBJECT')) break
      throw e
    }
    id = m.parent
    const created = Date.parse(m.createdAt)
    if (opts.since && created < opts.since.getTime()) continue
    if (opts.until && created > opts.until.getTime()) continue
    const tags = [...new Set([...m.tags, ...(tagged.get(self) ?? [])])]
    if (opts.tag !== undefined && !tags.includes(opts.tag)) continue
    out.push({
      id: self,
      parent: m.parent,
      branch: m.branchName,
      message: m.message,
      author: m.author,
      createdAt: m.createdAt,
      tags,
      operation: m.operation,
      pageCount: m.pageCount,
      ownPages: m.pages.pageNos.length,
      ownBytes: m.pages.pageNos.length * m.pageSize,
      stacked: m.fallback !== null,
      merge: m.merge ?? null,
    })
  }
  return out
}
