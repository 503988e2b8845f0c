import type { SegmentId, SnapshotId } from '../../format/ids.js'
import { BRANCHES_PREFIX, SEGMENTS_PREFIX, SNAPSHOTS_PREFIX, refKey } from '../../format/keys.js'
import type { ObjectInfo } from '../../store/object-store.js'
import { LOCK_PAGE_LEVEL } from '../read/chain.js'
import { crossStoreDependencies, type CrossStoreDependency } from '../cross-store/cross-store.js'
import { classify, isMarked, type SweepCandidate } from './gc.js'
import { markRoots } from '../reachability/mark.js'
import { SHARED, soleOwners } from '../reachability/owners.js'
import type { OperationOptions } from '../read/progress.js'
import { ROOT_KINDS, readRoots, type RetentionPolicy, type RootScan } from '../reachability/roots.js'
import { type RepoContext } from '../read/context.js'

/** Sizes of one branch. */
export interface BranchStats {
  name: string
  branchId: string
  head: SnapshotId
  base: SnapshotId
  expiresAt: string | null
  /** The branch has a hold. */
  held: boolean
  /** Levels a read walks: 1 for a standalone branch. */
  chainDepth: number
  pageSize: number
  pageCount: number
  /** Pages the head stores itself (its delta; every page when standalone). */
  ownPages: number
  ownBytes: number
  /** Pages read from ancestors' snapshots. */
  sharedPages: number
  sharedBytes: number
  /** Snapshots of retained history behind the head. */
  historySnapshots: number
  /** Objects that deleting the branch (and then gc) would free: its ref, and every snapshot, segment and record only it keeps. */
  exclusiveObjects: number
  /** Bytes of those objects. */
  exclusiveBytes: number
}

/** Counts and bytes of one kind of object. */
export interface KindStats {
  objects: number
  bytes: number
  /** Of those, the ones something keeps (everything but unreferenced snapshots, segments and branch records). */
  liveObjects: number
  liveBytes: number
}

/** The kinds of object a store holds, by key prefix. */
export type ObjectKindName = 'snapshots' | 'segments' | 'branches' | (typeof ROOT_KINDS)[number]['objects'] | 'other'

/** Store-wide sizes. */
export interface StoreStats {
  objects: number
  bytes: number
  liveObjects: number
  liveBytes: number
  /** What gc with no grace period would free. */
  garbageObjects: number
  garbageBytes: number
  byKind: Record<ObjectKindName, KindStats>
  /** Bytes of page slots inside live segments that some kept snapshot reads. */
  livePageBytes: number
  /** Bytes of page slots inside live segments that nothing kept reads (what compaction can win back). */
  deadPageBytes: number
}

/** What `stats` reports. */
export interface StatsResult {
  branches: BranchStats[]
  store: StoreStats
  /** Other stores this one stacks on, what it needs there and whether it is pinned (see `crossStoreDependencies`). */
  crossStore: CrossStoreDependency[]
}

/** Options for stats. */
export interface StatsOptions extends OperationOptions {
  /** The retention that decides what history is live (default: gc's default). */
  retention?: RetentionPolicy
  /** Compute branch figures only for these branches (store figures are always whole). */
  branches?: string[]
}

/**
 * Measure the store the way gc sees it (same roots and retention; expired branches still count
 * as live, grace is ignored): per branch its chain depth, own and shared pages, retained history
 * and the bytes that deleting it would free; store-wide live and total bytes, object counts by
 * kind, and the dead bytes inside live segments. Reads manifests only, never a page.
 */
export async function stats(ctx: RepoContext, opts: StatsOptions = {}): Promise<StatsResult> {
  const listed: ObjectInfo[] = []
  for await (const o of ctx.store.list('')) listed.push(o)
  const rootOpts = { ...(opts.retention ? { retention: opts.retention } : {}), expire: false }
  const scan = await readRoots(ctx, rootOpts)
  const marks = await markRoots(ctx, scan)
  const sweepable = listed.map(classify).filter((c): c is SweepCandidate => c !== null)

  const byKind = Object.fromEntries([...KIND_PREFIXES.map(([, k]) => k), 'other' as const].map((k) => [k, { objects: 0, bytes: 0, liveObjects: 0, liveBytes: 0 }])) as Record<ObjectKindName, KindStats>
  const sweepableKeys = new Map(sweepable.map((c) => [c.info.key, c]))
  for (const o of listed) {
    const kind = kindOf(o.key)
    const k = byKind[kind]
    k.objects++
    k.bytes += o.size
    const c = sweepableKeys.get(o.key)
    if (!c || isMarked(c, marks)) {
      k.liveObjects++
      k.liveBytes += o.size
    }
  }
  let livePageBytes = 0
  let deadPageBytes = 0
  for (const c of sweepable) {
    if (c.kind !== 'segment') continue
    const use = marks.segments.get(c.id as SegmentId)
    if (!use) continue
    livePageBytes += use.liveBytes
    deadPageBytes += Math.max(0, c.info.size - use.liveBytes)
  }
  const sum = (f: (k: KindStats) => number): number => Object.values(byKind).reduce((n, k) => n + f(k), 0)
  const store: StoreStats = {
    objects: sum((k) => k.objects),
    bytes: sum((k) => k.bytes),
    liveObjects: sum((k) => k.liveObjects),
    liveBytes: sum((k) => k.liveBytes),
    garbageObjects: sum((k) => k.objects - k.liveObjects),
    garbageBytes: sum((k) => k.bytes - k.liveBytes),
    byKind,
    livePageBytes,
    deadPageBytes,
  }

  const wanted = opts.branches ? new Set(opts.branches) : null
  const heldBranches = new Set(scan.holds.flatMap((h) => (h.record.target === 'branch' ? [h.record.branch] : [])))
  const sizes = new Map(listed.map((o) => [o.key, o.size]))
  // What deleting each branch frees: the objects its root alone keeps, summed in one pass.
  const owners = soleOwners(scan, marks)
  const exclusive = new Map<number, { objects: number; bytes: number }>()
  for (const c of sweepable) {
    if (!isMarked(c, marks)) continue
    const map = c.kind === 'snapshot' ? owners.snapshots : c.kind === 'segment' ? owners.segments : owners.branches
    const owner = (map as Map<string, number>).get(c.id) ?? SHARED
    if (owner === SHARED) continue
    const t = exclusive.get(owner) ?? { objects: 0, bytes: 0 }
    t.objects++
    t.bytes += c.info.size
    exclusive.set(owner, t)
  }
  const rootOfBranch = new Map<string, number>()
  scan.roots.forEach((r, i) => {
    if (r.kind === 'branch') rootOfBranch.set(r.name, i)
  })
  const branches: BranchStats[] = []
  const refs = scan.refs.filter((r) => !wanted || wanted.has(r.ref.name))
  let n = 0
  for (const { ref } of refs) {
    opts.onProgress?.({ phase: 'branches', loaded: n++, total: refs.length })
    const table = await ctx.chains.resolve(ref.head, { branch: ref.name })
    const head = table.levels[0]!.manifest
    let shared = 0
    for (let p = 0; p < table.pageCount; p++) {
      const li = table.level[p]!
      if (li !== 0 && li !== LOCK_PAGE_LEVEL) shared++
    }
    const rootIndex = rootOfBranch.get(ref.name)
    const root = rootIndex === undefined ? undefined : scan.roots[rootIndex]
    const own = rootIndex === undefined ? undefined : exclusive.get(rootIndex)
    const exclusiveObjects = 1 + (own?.objects ?? 0)
    const exclusiveBytes = (sizes.get(refKey(ref.name)) ?? 0) + (own?.bytes ?? 0)
    branches.push({
      name: ref.name,
      branchId: ref.branchId,
      head: ref.head,
      base: ref.base,
      expiresAt: ref.expiresAt,
      held: heldBranches.has(ref.name),
      chainDepth: table.levels.length,
      pageSize: table.pageSize,
      pageCount: table.pageCount,
      ownPages: head.pages.pageNos.length,
      ownBytes: head.pages.pageNos.length * head.pageSize,
      sharedPages: shared,
      sharedBytes: shared * head.pageSize,
      historySnapshots: root ? root.snapshots.filter((s) => s.via === 'history').length : 0,
      exclusiveObjects,
      exclusiveBytes,
    })
  }
  return { branches, store, crossStore: await crossStoreDependencies(ctx, { marks }) }
}

/** Object kinds by key prefix: what roots keep, then every kind of root. */
const KIND_PREFIXES: readonly (readonly [string, ObjectKindName])[] = [
  [SNAPSHOTS_PREFIX, 'snapshots'],
  [SEGMENTS_PREFIX, 'segments'],
  [BRANCHES_PREFIX, 'branches'],
  ...ROOT_KINDS.map((k) => [k.prefix, k.objects] as const),
]

function kindOf(key: string): ObjectKindName {
  return KIND_PREFIXES.find(([prefix]) => key.startsWith(prefix))?.[1] ?? 'other'
}
