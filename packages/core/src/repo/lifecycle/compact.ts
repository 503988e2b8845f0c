import { InvalidArgumentError, isStrataError } from '../../errors/index.js'
import { PAGE_HASH_BYTES } from '../../format/hash.js'
import type { SegmentId, SnapshotId } from '../../format/ids.js'
import { type SegmentRef } from '../../format/manifest.js'
import type { PageNo } from '../../format/page.js'
import { buildPageTable, type PageEntry } from '../../format/page-table.js'
import { markRoots, type MarkSet } from '../reachability/mark.js'
import type { OperationOptions } from '../read/progress.js'
import { type VersionedRef } from '../branches/refs.js'
import { readRoots, type RetentionPolicy, type RootScan } from '../reachability/roots.js'
import { SegmentWriter, copyPages } from '../write/segment-writer.js'
import { type RepoContext } from '../read/context.js'
import { getBranch } from '../branches/branches.js'
import { publishSnapshot, type Published } from '../write/publish-snapshot.js'

/** When a head's segments are rewritten. */
export interface CompactionPolicy {
  /**
   * Rewrite the head's pages out of a segment when less than this fraction of the segment's
   * bytes is read by any snapshot gc keeps (the rest is dead pages of freed history).
   * Default 0.5; 0 turns this rule off.
   */
  minLiveFraction?: number
  /**
   * Segments shorter than this count as small. Default a quarter of the repository's segment
   * size. Each commit writes its new pages into fresh segments, so a branch committed often
   * references many small ones.
   */
  smallSegmentBytes?: number
  /** Merge a head's small segments once it references at least this many. Default 8; 0 turns this rule off. */
  minSmallSegments?: number
}

/** Options for compaction. */
export interface CompactOptions extends OperationOptions, CompactionPolicy {
  /** Retention used to decide which history is still live (default: gc's default). */
  retention?: RetentionPolicy
}

/** What compaction did to one branch. */
export interface CompactedBranch {
  branch: string
  /** The head before; it stays in history (the new head's parent) until retention frees it. */
  previous: SnapshotId
  /** The new head: same pages, same checksum, same fallback; operation `compact`. */
  snapshot: SnapshotId
  /** Segments whose pages of the head were moved out. */
  segmentsReplaced: number
  /** Pages copied into fresh segments. */
  pagesRewritten: number
  /** Bytes uploaded (segments and manifest). */
  bytesWritten: number
}

/** A branch compaction left alone, and why. */
export interface SkippedBranch {
  branch: string
  reason: 'conflict' | 'shared'
}

/** What a compaction pass did. */
export interface CompactResult {
  compacted: CompactedBranch[]
  /** Branches that qualified but were not compacted: moved meanwhile, or their head is kept by something else. */
  skipped: SkippedBranch[]
}

/** A head that qualifies, with the segments to rewrite. */
export interface CompactionPlan {
  ref: VersionedRef
  /** Ids of the segments whose pages of the head move into fresh segments. */
  segments: Set<SegmentId>
  pages: number
}

function policyOf(ctx: RepoContext, p: CompactionPolicy): Required<CompactionPolicy> {
  const minLiveFraction = p.minLiveFraction ?? 0.5
  const smallSegmentBytes = p.smallSegmentBytes ?? Math.floor(ctx.settings.segmentBytes / 4)
  const minSmallSegments = p.minSmallSegments ?? 8
  if (!(minLiveFraction >= 0 && minLiveFraction <= 1)) throw new InvalidArgumentError({ argument: 'minLiveFraction', reason: `${minLiveFraction} is not in 0…1` })
  if (!(smallSegmentBytes >= 0)) throw new InvalidArgumentError({ argument: 'smallSegmentBytes', reason: `${smallSegmentBytes} is negative` })
  if (!Number.isInteger(minSmallSegments) || minSmallSegments < 0) throw new InvalidArgumentError({ argument: 'minSmallSegments', reason: `${minSmallSegments} is not a whole number` })
  return { minLiveFraction, smallSegmentBytes, minSmallSegments }
}

/**
 * Decide which branch heads to compact, from the roots and what they mark. A head qualifies
 * only if it owns a delta, or is standalone (an import or a materialize, its own base), and
 * nothing but its own ref keeps it —
 * no other ref, tag, hold or pin names it and no kept snapshot falls back to it — because a head
 * something else keeps stays alive anyway and rewriting it would store its pages twice. Its
 * segments are rewritten when their live fraction is below `minLiveFraction`, or when they are
 * small and the head references at least `minSmallSegments` small ones.
 */
export function planCompaction(ctx: RepoContext, scan: RootScan, marks: MarkSet, policy: CompactionPolicy, branches?: ReadonlySet<string>): { plans: CompactionPlan[]; skipped: SkippedBranch[] } {
  const p = policyOf(ctx, policy)
  const keptElsewhere = new Map<SnapshotId, number>()
  for (const r of scan.roots) {
    for (const s of r.snapshots) keptElsewhere.set(s.id, (keptElsewhere.get(s.id) ?? 0) + 1)
  }
  const plans: CompactionPlan[] = []
  const skipped: SkippedBranch[] = []
  for (const vr of scan.refs) {
    const { ref } = vr
    if (branches && !branches.has(ref.name)) continue
    const m = marks.snapshots.get(ref.head)
    if (!m) continue
    // A head that is its branch's base qualifies only when it is standalone (an import or a
    // materialize): its rewrite becomes the new base, and the old one is released. A by-reference
    // materialize is the common case: it reads many commit segments, shared with history.
    if (ref.head === ref.base && m.fallback !== null) continue
    const chosen = new Set<SegmentId>()
    const small: SegmentRef[] = []
    for (const s of m.segments) {
      const use = marks.segments.get(s.id)
      if (use && use.liveFraction < p.minLiveFraction) chosen.add(s.id)
      else if (s.length < p.smallSegmentBytes) small.push(s)
    }
    if (p.minSmallSegments > 0 && small.length >= p.minSmallSegments) for (const s of small) chosen.add(s.id)
    if (chosen.size === 0) continue
    if ((keptElsewhere.get(ref.head) ?? 0) > 1 || marks.fallbackTargets.has(ref.head)) {
      skipped.push({ branch: ref.name, reason: 'shared' })
      continue
    }
    let pages = 0
    for (let e = 0; e < m.pages.pageNos.length; e++) if (chosen.has(m.segments[m.pages.segments[e]!]!.id)) pages++
    plans.push({ ref: vr, segments: chosen, pages })
  }
  return { plans, skipped }
}

/**
 * Rewrite one planned head: copy its pages out of the chosen segments into fresh ones (every
 * page verified against its hash on the way), write a manifest that differs from the head only
 * in where pages live — same page count, fallback, checksum and page hashes — with the old head
 * as parent and operation `compact`, then compare-and-swap the ref. A lost race returns null and
 * leaves only unreferenced objects, which a later gc frees.
 */
export async function compactHead(ctx: RepoContext, plan: CompactionPlan, opts: OperationOptions = {}): Promise<CompactedBranch | null> {
  const { ref } = plan.ref
  const startedAt = ctx.now().getTime()
  const head = await ctx.chains.manifest(ref.head)
  const table = await ctx.chains.resolve(ref.head, { branch: ref.name })
  const t = head.pages
  const moving: PageNo[] = []
  for (let e = 0; e < t.pageNos.length; e++) if (plan.segments.has(head.segments[t.segments[e]!]!.id)) moving.push(t.pageNos[e]! as PageNo)
  const writer = new SegmentWriter(ctx.store, head.pageSize, {
    segmentBytes: ctx.settings.segmentBytes,
    concurrency: Math.max(2, Math.ceil(ctx.settings.concurrency / 2)),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  await copyPages(ctx, table, moving, writer, 'compact', opts)
  const written = await writer.finish()

  const segments: SegmentRef[] = [...written.segments]
  const kept = new Map<SegmentId, number>()
  const entries: PageEntry[] = [...written.entries]
  for (let e = 0; e < t.pageNos.length; e++) {
    const seg = head.segments[t.segments[e]!]!
    if (plan.segments.has(seg.id)) continue
    let idx = kept.get(seg.id)
    if (idx === undefined) {
      idx = segments.length
      segments.push(seg)
      kept.set(seg.id, idx)
    }
    entries.push({ pageNo: t.pageNos[e]! as PageNo, segment: idx, slot: t.slots[e]!, hash: t.hashes.subarray(e * PAGE_HASH_BYTES, (e + 1) * PAGE_HASH_BYTES) })
  }
  let published: Published
  try {
    published = await publishSnapshot(ctx, {
      startedAt,
      branch: plan.ref,
      // A standalone head that was its own base stays its own base (see planCompaction).
      base: ref.head === ref.base ? 'self' : 'keep',
      manifest: {
        pageSize: head.pageSize,
        pageCount: head.pageCount,
        fallback: head.fallback,
        message: `compact: moved ${moving.length} pages out of ${plan.segments.size} segments`,
        tags: [],
        operation: 'compact',
        checksum: head.checksum,
        segments,
        pages: buildPageTable(entries),
      },
    })
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) return null
    throw e
  }
  return {
    branch: ref.name,
    previous: ref.head,
    snapshot: published.snapshot,
    segmentsReplaced: plan.segments.size,
    pagesRewritten: moving.length,
    bytesWritten: writer.bytesWritten + published.manifestBytes,
  }
}

/** Run every plan; lost races are reported as skipped. */
export async function runCompaction(ctx: RepoContext, plans: readonly CompactionPlan[], opts: OperationOptions = {}): Promise<CompactResult> {
  const compacted: CompactedBranch[] = []
  const skipped: SkippedBranch[] = []
  for (const plan of plans) {
    const r = await compactHead(ctx, plan, opts)
    if (r) compacted.push(r)
    else skipped.push({ branch: plan.ref.ref.name, reason: 'conflict' })
  }
  return { compacted, skipped }
}

/**
 * Compact `branch` (or every branch): rewrite the segments of its head that are mostly dead or
 * small into fresh ones and move the branch to the rewritten head. Reads what is live the way gc
 * does (same roots and retention), but frees nothing itself: the old segments go when gc finds
 * them unreferenced — at once for history past retention.
 */
export async function compact(ctx: RepoContext, branch: string | undefined, opts: CompactOptions = {}): Promise<CompactResult> {
  const scan = await readRoots(ctx, { ...(opts.retention ? { retention: opts.retention } : {}), expire: false })
  if (branch !== undefined && !scan.refs.some((r) => r.ref.name === branch)) {
    await getBranch(ctx, branch)
  }
  const marks = await markRoots(ctx, scan)
  const { plans, skipped } = planCompaction(ctx, scan, marks, opts, branch === undefined ? undefined : new Set([branch]))
  const done = await runCompaction(ctx, plans, opts)
  return { compacted: done.compacted, skipped: [...skipped, ...done.skipped] }
}
