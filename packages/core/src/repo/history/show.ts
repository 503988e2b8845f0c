import type { SnapshotId } from '../../format/ids.js'
import type { MergeParents, SnapshotManifest, SnapshotMeta } from '../../format/manifest.js'
import { resolveTarget } from '../branches/resolve-target.js'
import { crossStoreLinks, type CrossStoreLink } from '../cross-store/cross-store.js'
import type { ChainLevel } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'
import { tagsBySnapshot } from './tags.js'

/** Summary of one snapshot for `show`. */
export interface SnapshotSummary extends Pick<SnapshotMeta, 'parent' | 'message' | 'author' | 'createdAt' | 'operation'> {
  id: SnapshotId
  branch: string | null
  pageSize: number
  pageCount: number
  /** Pages this snapshot stores itself. */
  ownPages: number
  ownBytes: number
  /** Bytes of the segments its own pages live in (shared segments counted whole). */
  segmentBytes: number
  segments: number
  checksum: string
  fallback: SnapshotManifest['fallback']
  /** The chain, this snapshot first. */
  chain: { id: SnapshotId; pageCount: number; ownPages: number; store: string }[]
  /** Tags in the snapshot's metadata, then the names of tags (`createTag`) on it. */
  tags: string[]
  /** Fallbacks of the chain that cross into other stores, and whether each is pinned there. */
  crossStore: CrossStoreLink[]
  /** For a merge commit: the snapshot merged in (its second parent), the source branch and the merge base; otherwise null. */
  merge: MergeParents | null
}

/** Describe a branch's head or a snapshot: sizes, own pages, chain, metadata. */
export async function show(ctx: RepoContext, spec: string): Promise<SnapshotSummary> {
  const target = await resolveTarget(ctx, spec)
  const levels: ChainLevel[] = await ctx.chains.chain(target.snapshot)
  const m = levels[0]!.manifest
  return {
    id: target.snapshot,
    branch: target.branch,
    pageSize: m.pageSize,
    pageCount: m.pageCount,
    ownPages: m.pages.pageNos.length,
    ownBytes: m.pages.pageNos.length * m.pageSize,
    segmentBytes: m.segments.reduce((s, x) => s + x.length, 0),
    segments: m.segments.length,
    checksum: Buffer.from(m.checksum).toString('hex'),
    fallback: m.fallback,
    chain: levels.map((l) => ({ id: l.id, pageCount: l.manifest.pageCount, ownPages: l.manifest.pages.pageNos.length, store: l.store.store.url })),
    parent: m.parent,
    message: m.message,
    author: m.author,
    createdAt: m.createdAt,
    tags: [...new Set([...m.tags, ...((await tagsBySnapshot(ctx)).get(target.snapshot) ?? [])])],
    operation: m.operation,
    crossStore: await crossStoreLinks(levels),
    merge: m.merge ?? null,
  }
}
