import pLimit from 'p-limit'
import { isStrataError } from '../../errors/index.js'
import type { BranchId, SegmentId, SnapshotId } from '../../format/ids.js'
import { snapshotKey } from '../../format/keys.js'
import type { Fallback, SnapshotManifest } from '../../format/manifest.js'
import type { Root, RootScan } from './roots.js'
import { type RepoContext } from '../read/context.js'

/** How much of one segment the marked snapshots read. */
export class SegmentUse {
  /** One bit per page slot: set if a marked snapshot reads it. */
  readonly #bits: Uint8Array
  /** Slots some marked snapshot reads. */
  liveSlots = 0

  constructor(
    /** The segment's length as its manifests record it. */
    readonly length: number,
    readonly pageSize: number,
  ) {
    this.#bits = new Uint8Array(Math.ceil(Math.floor(length / pageSize) / 8))
  }

  /** Record that slot `slot` is read. */
  use(slot: number): void {
    const byte = slot >>> 3
    const bit = 1 << (slot & 7)
    if (byte >= this.#bits.length || this.#bits[byte]! & bit) return
    this.#bits[byte]! |= bit
    this.liveSlots++
  }

  /** Bytes of slots some marked snapshot reads. */
  get liveBytes(): number {
    return this.liveSlots * this.pageSize
  }

  /** Fraction of the segment's bytes that are live (1 for an empty segment). */
  get liveFraction(): number {
    return this.length === 0 ? 1 : this.liveBytes / this.length
  }
}

/** What a mark reached. */
export interface MarkSet {
  /** Every marked snapshot of this store with its manifest. */
  snapshots: Map<SnapshotId, SnapshotManifest>
  /** Every segment a marked snapshot references, with the slots they read. */
  segments: Map<SegmentId, SegmentUse>
  /** Branch records kept: those of the refs that are roots. */
  branches: Set<BranchId>
  /** Snapshots some marked snapshot falls back to (the targets, not the snapshots pointing at them). */
  fallbackTargets: Set<SnapshotId>
  /** Fallbacks into other stores: recorded, never followed (that store's gc sees its pins). */
  crossStore: { snapshot: SnapshotId; fallback: Fallback }[]
}

/** An empty mark set. */
export function emptyMarkSet(): MarkSet {
  return { snapshots: new Map(), segments: new Map(), branches: new Set(), fallbackTargets: new Set(), crossStore: [] }
}

/** Options for {@link markSnapshots}. */
export interface MarkOptions {
  /**
   * True: a snapshot that is missing or undecodable throws (a root's chain is damaged, and
   * sweeping around it could destroy what a repair needs). False: skip it quietly (used for
   * garbage that grace keeps).
   */
  strict: boolean
  /** Called after each snapshot is marked, with the number marked so far. */
  onMarked?: (n: number) => void
}

/**
 * Mark `starts` and everything they read: each snapshot, its fallback chain within this store,
 * every segment each one references and the slots its pages occupy. Adds to `into`. Manifests
 * load with the repository's concurrency.
 */
export async function markSnapshots(ctx: RepoContext, starts: Iterable<{ id: SnapshotId; referencedBy: string }>, into: MarkSet, opts: MarkOptions): Promise<MarkSet> {
  const limit = pLimit(ctx.settings.concurrency)
  const queued = new Set<SnapshotId>(into.snapshots.keys())
  const tasks: Promise<void>[] = []
  let failure: unknown = null

  const visit = async (id: SnapshotId, referencedBy: string): Promise<void> => {
    let m: SnapshotManifest
    try {
      m = await ctx.chains.manifest(id, ctx.handle, referencedBy)
    } catch (e) {
      if (!opts.strict && (isStrataError(e, 'STRATA_MISSING_OBJECT') || isStrataError(e, 'STRATA_CORRUPT_OBJECT'))) return
      throw e
    }
    into.snapshots.set(id, m)
    for (let i = 0; i < m.segments.length; i++) {
      const s = m.segments[i]!
      if (!into.segments.has(s.id)) into.segments.set(s.id, new SegmentUse(s.length, m.pageSize))
    }
    const t = m.pages
    for (let e = 0; e < t.pageNos.length; e++) into.segments.get(m.segments[t.segments[e]!]!.id)!.use(t.slots[e]!)
    opts.onMarked?.(into.snapshots.size)
    const fb = m.fallback
    if (!fb) return
    if (fb.store && fb.store.id !== ctx.storeId) {
      into.crossStore.push({ snapshot: id, fallback: fb })
      return
    }
    into.fallbackTargets.add(fb.snapshot)
    enqueue(fb.snapshot, `the fallback of ${snapshotKey(id)}`)
  }

  const enqueue = (id: SnapshotId, referencedBy: string): void => {
    if (queued.has(id)) return
    queued.add(id)
    tasks.push(
      limit(() => (failure ? undefined : visit(id, referencedBy))).catch((e: unknown) => {
        failure ??= e
      }),
    )
  }

  for (const s of starts) enqueue(s.id, s.referencedBy)
  // Visits enqueue their fallbacks, so the task list grows while it is drained.
  for (let i = 0; i < tasks.length; i++) await tasks[i]
  if (failure) throw failure
  return into
}

/** The start points of a mark from `roots`, each naming what references it (for errors). */
export function rootStarts(roots: readonly Root[]): { id: SnapshotId; referencedBy: string }[] {
  return roots.flatMap((r) => r.snapshots.map((s) => ({ id: s.id, referencedBy: `${describeEdge(s.via)} of ${r.kind} ${JSON.stringify(r.name)} (${r.key})` })))
}

function describeEdge(via: string): string {
  return via === 'target' ? 'the target' : `the ${via}`
}

/** Mark everything the roots of `scan` keep alive (strict: damage throws). */
export async function markRoots(ctx: RepoContext, scan: RootScan, opts: Omit<MarkOptions, 'strict'> = {}): Promise<MarkSet> {
  const set = emptyMarkSet()
  for (const r of scan.refs) set.branches.add(r.ref.branchId)
  return markSnapshots(ctx, rootStarts(scan.roots), set, { ...opts, strict: true })
}
