import pLimit from 'p-limit'
import { AbortedError, InvalidArgumentError, isStrataError } from '../../errors/index.js'
import type { BranchId, SegmentId, SnapshotId } from '../../format/ids.js'
import { isSegmentId, isSnapshotId } from '../../format/ids.js'
import { BRANCHES_PREFIX, SEGMENTS_PREFIX, SNAPSHOTS_PREFIX, sweepEndedAt } from '../../format/keys.js'
import type { Fallback } from '../../format/manifest.js'
import { clearTombstone, removeRefAndKey, type VersionedRef } from '../branches/refs.js'
import { Intent, SWEEP_RECORD_KEEP_MS, isLive, readIntents, retireSweeps, type KeyedIntent } from '../branches/intents.js'
import { readRefIndex, type ListedObject } from '../branches/ref-index.js'
import type { ObjectInfo } from '../../store/object-store.js'
import { planCompaction, runCompaction, type CompactedBranch, type CompactionPolicy, type SkippedBranch } from './compact.js'
import { markRoots, markSnapshots, type MarkSet } from '../reachability/mark.js'
import type { OperationOptions } from '../read/progress.js'
import { MAIN_BRANCH } from '../../format/names.js'
import { DEFAULT_GRACE_MS, ROOT_KINDS, readRoots, type RetentionPolicy } from '../reachability/roots.js'
import { nowIso, type RepoContext } from '../read/context.js'

// Why gc is safe next to concurrent writers
// -----------------------------------------
// gc works in this order: (1) list the key space once, with each object's lastModified;
// (2) read every root (refs, tags, holds, pins) that listing found, remove expired refs, mark; (3) compact; then take
// `now` for the grace period, write a sweep marker (`sweeps/<uuid>`, renewed while gc runs), and
// (4) read every live intent (`intents/<uuid>`), then every root again, and mark from both;
// (5) sweep only objects that were listed in (1), are unmarked after (4) and are older than grace;
// then remove the marker. The store has compare-and-swap puts but no conditional delete, so every
// guarantee below is built from those puts and from the order of reads and writes.
//
// Ref removal (branch delete, expiry here, the last step of a rename). A removal never deletes a
// ref it has not fenced: it replaces the ref, by a put with `ifMatch` on the version it checked,
// with a tombstone (`deletedAt`) (`removeRef`). A commit that lands between the check and the
// tombstone changes the version, so the tombstone write fails with `ConflictError` and nothing is
// removed; a commit that comes after the tombstone reads no branch, or fails its own
// compare-and-swap. Expiry treats the conflict as "not expired this run". The deleter's tombstone
// is settled: it stays, and the next branch of the name replaces it by compare-and-swap, at once.
// gc clears tombstones (settled ones, and unsettled ones older than TOMBSTONE_HOLD_MS): it
// rewrites one unsettled by compare-and-swap, making it its own and young, then deletes the key —
// blindly, since the store has no conditional delete, so nobody else may write over a young
// unsettled tombstone: gc deletes its own only within TOMBSTONE_REMOVE_WINDOW_MS of writing it,
// and a new branch of the name waits until it is gone or older than TOMBSTONE_HOLD_MS. A
// tombstone is not a branch: not listed, not a root, ignored by verify; a name it holds is free.
//
// Making a snapshot reachable again (reset, branch create — from a branch, a tag or a snapshot id
// — and stacking from another store). The snapshot may be kept by nothing else any more, so gc
// could have decided to free it before the new ref exists. Chosen mechanism: intents as roots plus
// the sweep marker, a store-mediated handshake (a Dekker pattern: each side writes, then reads what
// the other wrote). The operation (a) writes an intent naming the snapshot, (b) lists the sweep
// markers and waits until none is live, (c) checks, bypassing caches, that the snapshot and its
// chain in this store still exist (or that the source ref still names it), (d) writes its ref,
// (e) removes the intent. gc writes its marker before (4), reads the intents in (4) before the
// roots, and keeps the marker until the last deletion. Take any gc that would delete the snapshot: its deletions lie
// inside its marker's lifetime. If (b) ran while the marker existed, the operation waited it out
// and (c) ran after the deletions and fails with `MissingObjectError` — nothing published. If (b)
// ran after the marker was removed, the deletions were over before (c): same. If (b) ran before
// the marker was written, so did (a), so gc's read of the intents in (4) finds the intent, or (e)
// already ran, and then so did (d), before gc's read of the roots, which finds the ref: either way
// the snapshot is marked. (Reading the roots first would lose it when (d) and (e) both fall
// between the two reads; a test holds gc there.) The alternative — gc re-checking its
// sweep list and fencing late writers by a generation number — would need a conditional write
// on two keys (the ref and the generation), which no store offers; intents need nothing new.
// A branch created from another branch uses its new ref as the intent, and the records of ended
// sweeps to skip the rest of the handshake in the common case. It takes its repository-clock time
// t0, reads the source ref (S: the snapshot it names), writes its new ref (d), then lists `sweeps/`
// once (b). gc replaces its marker by a record of its end (`sweeps/ended/{ms}-{uuid}`), written
// before the marker is deleted, so one of the two is always there; a later gc retires a dead
// marker the same way, and deletes a record only once it is SWEEP_RECORD_KEEP_MS old. If the
// listing shows no marker and no record of a sweep that ended after t0 − 2 × CLOCK_SKEW_MS, and
// (b) ran within RECHECK_AFTER_MS of t0, the create is done: three requests. Take a gc that
// freed S. It deleted S after the source ref was read, since a ref names a complete snapshot. If
// its marker was written after (b) began, its read of the roots in (4) — a listing of the refs,
// then a read of each — came after (d) and finds the new ref, which keeps S. Otherwise, when (b)
// listed, its marker was there, or its record was: the record's time follows its deletions, so
// in any clock within CLOCK_SKEW_MS of the truth it is after t0 − 2 × CLOCK_SKEW_MS, and no gc had
// deleted it yet, as (b) came far less than SWEEP_RECORD_KEEP_MS − 2 × CLOCK_SKEW_MS after t0.
// Either way the listing shows it. When the listing shows a sweep that may have run, the create
// takes the full handshake: it waits out running sweeps (b'), then (c) reads the source ref
// again. A gc whose marker came after (b') reads the refs after (d) and finds the new ref. Any
// other gc ended its deletions before (c); had it freed S, it read the source ref while that named
// something else, and the source could only have come back to S by a reset or create that itself
// found S kept — so a source ref still naming S at (c) proves it was kept; otherwise the chain is
// checked and, if gc freed it, the new ref is removed again and the create fails.
// Skipping the listing too, when the source ref read again is unchanged, would be unsound: a gc
// can list the refs before (d), miss the new ref, and read the source ref only after it moved on
// or was deleted, after the create's re-read — then nothing it reads keeps S (a test holds gc
// between its listing and its reads). Its marker, in the listing, catches that gc.
// Cross-store stacking uses the same handshake in the base store, with the pin as its intent;
// a tag or a hold of a snapshot uses it with the tag or hold as its intent (and removes it again
// if the snapshot was freed first).
// Intents and markers are renewed every INTENT_RENEW_MS; one not renewed for INTENT_TTL_MS
// belongs to a process that died and is ignored (gc deletes stale intents); an operation whose
// own intent could not be renewed that long fails before publishing.
//
// Long operations (import, materialize, compact, a commit of many segments). Their new objects
// are kept by grace until their ref moves. An operation that has run for RECHECK_AFTER_MS or
// longer by the time it publishes (and any import that reused stored segments, which may be old)
// publishes under an intent naming its new manifest, after the same handshake and a check that
// the manifest and every segment it references still exist: if gc freed one, it fails cleanly
// with `MissingObjectError` and publishes nothing. An operation shorter than that needs no
// intent because gc takes `now` before (4): an object it deletes is older than grace at that
// moment, so it was written more than grace − RECHECK_AFTER_MS before (4), and the short
// operation that wrote it had published its ref before (4) read the roots. So grace only has to
// outlast RECHECK_AFTER_MS (one minute; the default grace is 15), not the longest operation.
//
// The rest, unchanged by the above:
// - An object written after (1) is never a candidate: the sweep only deletes listed keys.
// - A commit that lands during gc: its fallback is the ref's base and its carried segments are the
//   old head's, both marked from the ref as read in (4) — or, if it landed before (4), its new
//   head is marked directly. A commit whose head was moved under it fails its compare-and-swap.
// - A branch deleted during gc: deleted before (4), its garbage goes in this run; after (4),
//   in the next. Either way only what no root reaches is touched.
// - Compaction in (3) moves refs by compare-and-swap like any commit; its new objects are
//   written after (1), so they are never candidates, and the heads it replaced are judged by
//   the roots read in (4).
// - Garbage snapshots younger than grace are kept, and so is everything they read: any manifest
//   gc leaves behind is complete. The sweep deletes manifests first, then branch records, then
//   segments, so a crash mid-sweep never leaves a manifest whose segments are gone.
// - Assumption: the repository clocks of writers and gc agree to well within a minute (grace,
//   tombstone and intent ages compare times written by one process with another's clock).


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
  // The listing also serves (2): the roots it lists are read from it, with the ref index fetched
  // meanwhile, rather than listed again. A dry run deletes nothing, so its read of the intents
  // need not wait for a marker either: it overlaps the listing too.
  const index = readRefIndex(ctx.store)
  const dryRunIntents = dryRun ? readIntents(ctx.store) : null
  dryRunIntents?.catch(() => {}) // awaited below; until then a failure must not go unhandled
  const rootObjects: ListedObject[] = []
  const oldSweepRecords: string[] = []
  const startedAt = ctx.now().getTime()
  for await (const info of ctx.store.list('')) {
    stopIfAborted()
    scannedObjects++
    scannedBytes += info.size
    const c = classify(info)
    if (c) listed.push(c)
    else if ((sweepEndedAt(info.key) ?? Infinity) < startedAt - SWEEP_RECORD_KEEP_MS) oldSweepRecords.push(info.key)
    else if (ROOT_KINDS.some((k) => info.key.startsWith(k.prefix))) rootObjects.push({ key: info.key, version: info.version })
  }
  const progress = (phase: 'mark' | 'sweep', loaded: number, total: number): void => opts.onProgress?.({ phase, loaded, total })
  const snapshotsListed = listed.filter((c) => c.kind === 'snapshot').length

  // (2) Roots, expiry, mark.
  stopIfAborted()
  let scan = await readRoots(ctx, { ...rootOpts, listing: { objects: rootObjects, index } })
  const expiredBranches: string[] = []
  for (const e of scan.expired) {
    stopIfAborted()
    if (dryRun) {
      expiredBranches.push(e.ref.name)
      continue
    }
    if (await removeIfUnchanged(ctx, e)) expiredBranches.push(e.ref.name)
  }
  // Tombstones of deletions: clear them (a tombstone is no branch, but it is clutter in every listing).
  if (!dryRun) {
    const limit = pLimit(ctx.settings.concurrency)
    await Promise.all(scan.tombstones.map((t) => limit(() => clearTombstone(ctx.store, t, nowIso(ctx)))))
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
  // Grace is judged by the time before the final read of the roots (see "Long operations" above).
  const now = ctx.now().getTime()
  let marker: Intent | null = null
  try {
    if (!dryRun) {
      // The marker is written before the final read of the roots and stays until the sweep ends.
      stopIfAborted()
      marker = await Intent.begin(ctx, 'gc', [], { sweep: true })
    }
    // Intents are roots while they are live: what operations in flight are about to publish. They
    // are read before the roots: an operation removes its intent only after writing its ref, so
    // an intent gone by now means its ref is already there for the read below to find.
    stopIfAborted()
    const intents = await (dryRunIntents ?? readIntents(ctx.store))
    if (!dryRun) {
      // Refs that expire between the two reads stay roots this time.
      scan = await readRoots(ctx, { ...rootOpts, expire: false })
      marks = await markRoots(ctx, scan, { onMarked: (n) => (stopIfAborted(), progress('mark', n, snapshotsListed)) })
    }
    const liveIntents = intents.filter((i) => isLive(i.record, now))
    await markSnapshots(ctx, liveIntents.flatMap((i) => i.record.snapshots.map((id) => ({ id, referencedBy: `the ${i.record.operation} intent ${i.key}` }))), marks, { strict: false })
    if (!dryRun) {
      // Intents and sweep markers of processes that died (markers of a killed gc would otherwise
      // only go stale, leaving operations to wait for them until they do).
      // A dead marker is retired like an ended one, leaving the record of its end for a while;
      // records of sweeps that ended long ago go.
      const dead = (records: KeyedIntent[]): string[] => records.filter((i) => !isLive(i.record, now)).map((i) => i.key)
      const deadIntents = dead(intents)
      if (deadIntents.length > 0) await ctx.store.delete(deadIntents)
      await retireSweeps(ctx, dead(await readIntents(ctx.store, { sweeps: true })))
      if (oldSweepRecords.length > 0) await ctx.store.delete(oldSweepRecords)
    }

    // Garbage younger than grace stays, and so does everything it reads.
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
        // A marker this gc could not renew may look dead to an operation: stop sweeping then.
        marker?.assertAlive()
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
  } finally {
    await marker?.release()
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
 * Remove the ref of an expired branch, tombstone and key (see `removeRefAndKey`), if it is still at
 * the version gc read: a commit or rename that landed since wins, and the branch stays for this
 * run. False if it did.
 */
async function removeIfUnchanged(ctx: RepoContext, expired: VersionedRef): Promise<boolean> {
  try {
    await removeRefAndKey(ctx.store, expired, nowIso(ctx), 'expired')
    return true
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) return false
    throw e
  }
}
