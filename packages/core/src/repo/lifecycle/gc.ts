import { AbortedError, InvalidArgumentError } from '../../errors/index.js'
import type { BranchId, SegmentId, SnapshotId } from '../../format/ids.js'
import { isSegmentId, isSnapshotId } from '../../format/ids.js'
import { BRANCHES_PREFIX, SEGMENTS_PREFIX, SNAPSHOTS_PREFIX, refKey } from '../../format/keys.js'
import type { Fallback } from '../../format/manifest.js'
import { decodeRef } from '../../format/ref.js'
import type { ObjectInfo } from '../../store/object-store.js'
import { planCompaction, runCompaction, type CompactedBranch, type CompactionPolicy, type SkippedBranch } from './compact.js'
import { markRoots, markSnapshots, type MarkSet } from '../reachability/mark.js'
import type { OperationOptions } from '../read/progress.js'
import { MAIN_BRANCH } from '../../format/names.js'
import { DEFAULT_GRACE_MS, readRoots, type RetentionPolicy } from '../reachability/roots.js'
import { type RepoContext } from '../read/context.js'

// Why gc is safe next to concurrent writers
// -----------------------------------------
// gc works in this order: (1) list the key space once, with each object's lastModified;
// (2) read every root (refs, tags, holds, pins), delete expired refs, mark; (3) compact;
// (4) read every root again and mark afresh; (5) sweep only objects that were listed in (1), are
// unmarked in (4) and are older than the grace period.
//
// - An object written after (1) is never a candidate: the sweep only deletes listed keys.
// - In-flight commit (segments and manifest uploaded, ref not yet moved): its new objects are
//   younger than the grace period, so they survive as long as a commit takes less than the
//   grace period from its first upload to its ref update. Grace must exceed the longest
//   commit, import or materialize. The segments it carries forward belong to the head it
//   read; that head is still the ref's head when gc reads the roots (otherwise its final
//   compare-and-swap fails and nothing of it becomes visible), so gc marks it.
// - A commit that lands during gc: its manifest and new segments are younger than grace (or
//   were not listed at all); its fallback is the ref's base and its carried segments are the
//   old head's, both marked from the ref as read in (4) — or, if it landed before (4), its new
//   head is marked directly.
// - A branch deleted during gc: deleted before (4), its garbage goes in this run; after (4),
//   in the next. Either way only what no root reaches is touched.
// - A branch moved during gc to a snapshot some root keeps (another head, a tag, retained
//   history, a hold) — e.g. `reset`, whose new head reads the target's pages and stacks on its
//   fallback: those are marked, so the move is safe. Moving to a snapshot that *no* root keeps
//   any more (history past retention that is not yet deleted, or create-from-snapshot-id of
//   such a snapshot) is the one unsafe race: if it lands after (4) and before the sweep, gc
//   deletes what the new head reads. The re-read in (4) shrinks that window to the sweep
//   itself; holding the snapshot first (a hold is a root) closes it.
// - Compaction in (3) moves refs by compare-and-swap like any commit; its new objects are
//   written after (1), so they are never candidates, and the heads it replaced are judged by
//   the roots read in (4).
// - Garbage snapshots younger than grace are kept, and so is everything they read: any manifest
//   gc leaves behind is complete. The sweep deletes manifests first, then branch records, then
//   segments, so a crash mid-sweep never leaves a manifest whose segments are gone.


/** Options for gc. */
export interface GcOptions extends OperationOptions {
  /** Report what would be deleted and the bytes it would free; delete, expire and compact nothing. */
  dryRun?: boolean
  /**
   * Never delete an object modified less than this many ms before the repository clock's now.
   * Default 15 minutes. 0 turns the grace period off (tests; a store no one writes to).
   */
  graceMs?: number
  /** How much history to keep behind each branch head (default {@link DEFAULT_RETENTION}). */
  retention?: RetentionPolicy
  /** Delete refs past their `expiresAt` (unless held). Default true. */
  expire?: boolean
  /** Compact heads whose segments are mostly dead or small (default true; false to skip). */
  compact?: boolean | CompactionPolicy
}

/** The kind of an object gc may delete. */
export type SweepKind = 'snapshot' | 'segment' | 'branch'

/** An object gc deleted (or would delete, in a dry run). */
export interface SweptObject {
  key: string
  kind: SweepKind
  size: number
  lastModified: string
}

/** Totals of objects and bytes. */
export interface ObjectTotals {
  objects: number
  bytes: number
  snapshots: number
  segments: number
  branches: number
}

/** What gc did (or, in a dry run, would do). */
export interface GcResult {
  dryRun: boolean
  /** Branches deleted because they expired (in a dry run: that would be). */
  expiredBranches: string[]
  /** Heads rewritten by compaction (none in a dry run). */
  compacted: CompactedBranch[]
  /** Branches whose heads compaction would rewrite (filled in a dry run, which compacts nothing). */
  compactable: string[]
  /** Heads compaction would rewrite but left alone. */
  compactionSkipped: SkippedBranch[]
  /** Every object deleted (or that would be), manifests first. */
  deleted: SweptObject[]
  /** Totals of `deleted`: the bytes freed. */
  freed: ObjectTotals
  /** Unreferenced objects kept because they are younger than the grace period. */
  protectedByGrace: ObjectTotals
  /** What the mark reached. */
  marked: { snapshots: number; segments: number; branches: number }
  /** Objects in the store when gc listed it. */
  scanned: { objects: number; bytes: number }
  /** Fallbacks into other stores: recorded, never followed. */
  crossStoreFallbacks: { snapshot: SnapshotId; store: NonNullable<Fallback['store']> }[]
}

const DELETE_BATCH = 1000

/** A listed object gc may delete: its listing, kind and id. */
export interface SweepCandidate {
  info: ObjectInfo
  kind: SweepKind
  /** The snapshot id, segment id or branch id the key names. */
  id: string
}

/**
 * Collect garbage: delete every snapshot, segment and branch record that no root keeps and that
 * is older than the grace period. Roots: each ref's head, base and retained history; tags; holds;
 * pins. Marking follows fallbacks within this store (cross-store fallbacks are recorded, not
 * followed) and takes every segment a marked snapshot references. Expired branches (past
 * `expiresAt`, no hold, never `main`) lose their refs first and become garbage. Heads whose
 * segments are mostly dead are compacted first, so their old segments go in the same run.
 *
 * A root that is damaged (a ref pointing at a missing snapshot, a missing fallback, an
 * undecodable ref, tag, hold or pin) aborts gc before anything is deleted: sweeping around
 * damage could destroy what a repair needs. Run verify.
 *
 * `signal` is honoured in every phase (listing, expiry, mark, compaction, sweep) with
 * `AbortedError`; the sweep stops only between its delete batches, each of one kind of object,
 * so what is left is as consistent as after a crash and a later gc finishes the job.
 */
export async function gc(ctx: RepoContext, opts: GcOptions = {}): Promise<GcResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS
  if (!(graceMs >= 0)) throw new InvalidArgumentError({ argument: 'graceMs', reason: `${graceMs} is not a duration ≥ 0` })
  const dryRun = opts.dryRun ?? false
  const rootOpts = { ...(opts.retention ? { retention: opts.retention } : {}), expire: opts.expire ?? true, protectedBranch: MAIN_BRANCH }

  // (1) The key space, before any root is read.
  const listed: SweepCandidate[] = []
  let scannedObjects = 0
  let scannedBytes = 0
  const stopIfAborted = (): void => {
    if (opts.signal?.aborted) throw new AbortedError({ operation: 'gc' })
  }
  stopIfAborted()
  for await (const info of ctx.store.list('')) {
    stopIfAborted()
    scannedObjects++
    scannedBytes += info.size
    const c = classify(info)
    if (c) listed.push(c)
  }
  const progress = (phase: 'mark' | 'sweep', loaded: number, total: number): void => opts.onProgress?.({ phase, loaded, total })
  const snapshotsListed = listed.filter((c) => c.kind === 'snapshot').length

  // (2) Roots, expiry, mark.
  stopIfAborted()
  let scan = await readRoots(ctx, rootOpts)
  const expiredBranches: string[] = []
  for (const e of scan.expired) {
    stopIfAborted()
    if (dryRun) {
      expiredBranches.push(e.ref.name)
      continue
    }
    if (await deleteIfStillExpired(ctx, e.ref.name, e.version)) expiredBranches.push(e.ref.name)
  }
  let marks = await markRoots(ctx, scan, { onMarked: (n) => (stopIfAborted(), progress('mark', n, snapshotsListed)) })

  // (3) Compaction, then (4) a fresh read of the roots.
  let compacted: CompactedBranch[] = []
  let compactionSkipped: SkippedBranch[] = []
  let compactable: string[] = []
  if (opts.compact !== false) {
    const { plans, skipped } = planCompaction(ctx, scan, marks, opts.compact === true || opts.compact === undefined ? {} : opts.compact)
    compactionSkipped = skipped
    if (dryRun) compactable = plans.map((p) => p.ref.ref.name)
    else {
      const r = await runCompaction(ctx, plans, opts.signal ? { signal: opts.signal } : {})
      compacted = r.compacted
      compactionSkipped = [...skipped, ...r.skipped]
    }
  }
  if (!dryRun) {
    // Refs that expire between the two reads stay roots this time.
    stopIfAborted()
    scan = await readRoots(ctx, { ...rootOpts, expire: false })
    marks = await markRoots(ctx, scan, { onMarked: (n) => (stopIfAborted(), progress('mark', n, snapshotsListed)) })
  }

  // Garbage younger than grace stays, and so does everything it reads.
  const now = ctx.now().getTime()
  const young = (c: SweepCandidate): boolean => graceMs > 0 && now - c.info.lastModified.getTime() < graceMs
  const youngSnapshots = listed.filter((c) => c.kind === 'snapshot' && !marks.snapshots.has(c.id as SnapshotId) && young(c))
  const graceMarks: MarkSet = { ...marks, snapshots: new Map(marks.snapshots), segments: new Map(marks.segments), fallbackTargets: new Set(), crossStore: [] }
  stopIfAborted()
  await markSnapshots(ctx, youngSnapshots.map((c) => ({ id: c.id as SnapshotId, referencedBy: 'a snapshot younger than the grace period' })), graceMarks, { strict: false })

  const doomed: SweepCandidate[] = []
  const graced = totals()
  for (const c of listed) {
    if (isMarked(c, marks)) continue
    if (young(c) || isMarked(c, graceMarks)) add(graced, c)
    else doomed.push(c)
  }
  const order: Record<SweepKind, number> = { snapshot: 0, branch: 1, segment: 2 }
  doomed.sort((a, b) => order[a.kind] - order[b.kind] || (a.info.key < b.info.key ? -1 : 1))

  // (5) Sweep: manifests, then branch records, then segments.
  const freed = totals()
  if (!dryRun) {
    progress('sweep', 0, doomed.length)
    // A batch never mixes kinds (a store may delete one batch's keys in any order), so the sweep
    // order holds at every point it may stop: between batches, on abort or crash.
    const batches: SweepCandidate[][] = []
    for (let i = 0; i < doomed.length; ) {
      let j = i
      while (j < doomed.length && j - i < DELETE_BATCH && doomed[j]!.kind === doomed[i]!.kind) j++
      batches.push(doomed.slice(i, j))
      i = j
    }
    let swept = 0
    for (const batch of batches) {
      stopIfAborted()
      await ctx.store.delete(batch.map((c) => c.info.key))
      ctx.chains.forget(batch.flatMap((c) => (c.kind === 'snapshot' ? [c.id as SnapshotId] : [])))
      for (const c of batch) add(freed, c)
      progress('sweep', (swept += batch.length), doomed.length)
    }
  } else {
    for (const c of doomed) add(freed, c)
  }

  return {
    dryRun,
    expiredBranches,
    compacted,
    compactable,
    compactionSkipped,
    deleted: doomed.map((c) => ({ key: c.info.key, kind: c.kind, size: c.info.size, lastModified: c.info.lastModified.toISOString() })),
    freed,
    protectedByGrace: graced,
    marked: { snapshots: marks.snapshots.size, segments: marks.segments.size, branches: marks.branches.size },
    scanned: { objects: scannedObjects, bytes: scannedBytes },
    crossStoreFallbacks: marks.crossStore.map((c) => ({ snapshot: c.snapshot, store: c.fallback.store! })),
  }
}

const BRANCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The sweepable kind and id of a listed object, or null for keys gc never deletes. */
export function classify(info: ObjectInfo): SweepCandidate | null {
  const k = info.key
  if (k.startsWith(SNAPSHOTS_PREFIX)) {
    const id = k.slice(SNAPSHOTS_PREFIX.length)
    return isSnapshotId(id) ? { info, kind: 'snapshot', id } : null
  }
  if (k.startsWith(SEGMENTS_PREFIX)) {
    const id = k.slice(SEGMENTS_PREFIX.length)
    return isSegmentId(id) ? { info, kind: 'segment', id } : null
  }
  if (k.startsWith(BRANCHES_PREFIX)) {
    const id = k.slice(BRANCHES_PREFIX.length)
    return BRANCH_ID.test(id) ? { info, kind: 'branch', id } : null
  }
  return null
}

/** True if mark set `m` keeps the listed object `c`. */
export function isMarked(c: SweepCandidate, m: MarkSet): boolean {
  return c.kind === 'snapshot' ? m.snapshots.has(c.id as SnapshotId) : c.kind === 'segment' ? m.segments.has(c.id as SegmentId) : m.branches.has(c.id as BranchId)
}

function totals(): ObjectTotals {
  return { objects: 0, bytes: 0, snapshots: 0, segments: 0, branches: 0 }
}

function add(t: ObjectTotals, c: SweepCandidate): void {
  t.objects++
  t.bytes += c.info.size
  if (c.kind === 'snapshot') t.snapshots++
  else if (c.kind === 'segment') t.segments++
  else t.branches++
}

/**
 * Delete the ref of an expired branch if it is still the version gc read and still expired.
 * The store has no conditional delete, so a writer that moves the ref in the instant between
 * this re-read and the delete loses that update — acceptable for a branch whose time is up.
 */
async function deleteIfStillExpired(ctx: RepoContext, name: string, version: string): Promise<boolean> {
  const key = refKey(name)
  const got = await ctx.store.get(key)
  if (!got || got.version !== version) return false
  const ref = decodeRef(key, got.body)
  if (ref.expiresAt === null || Date.parse(ref.expiresAt) >= ctx.now().getTime()) return false
  await ctx.store.delete([key])
  return true
}
