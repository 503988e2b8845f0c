import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { SUPPORTED_MAJOR } from './version.js'
import type { BranchRecord } from './branch-record.js'
import { isSegmentId, isSnapshotId, type BranchId, type SegmentId, type SnapshotId } from './ids.js'
import type { PageNo } from './page.js'

/**
 * A ref: a branch name's current state. `head` is the newest snapshot; `base` is the snapshot
 * the branch's commits are deltas against (its fork point, or its own newest standalone
 * snapshot after import or materialize). Every commit on the branch stacks directly on `base`,
 * so a read's chain depth is the branch's stacking depth, not its number of commits.
 */
export interface Ref {
  name: string
  branchId: BranchId
  head: SnapshotId
  base: SnapshotId
  /** ISO-8601 time of the last update. */
  updatedAt: string
  /** ISO-8601 time after which gc may delete the branch, or null. */
  expiresAt: string | null
  /**
   * Set while the branch is being renamed: the name it moves to. A ref with this set is fenced —
   * no commit, materialize, reset or delete moves it any more — and it goes away when the rename
   * finishes (re-running a rename that stopped half-way finishes it). Absent on ordinary refs.
   */
  movedTo?: string
  /**
   * Set on a tombstone: the ref of a branch being deleted (ISO-8601 time the deletion began).
   * A tombstone is written by compare-and-swap over the live ref, so it is the point at which the
   * deletion happens; it is not a branch (not listed, not a root, its name is free). It stays
   * until the next branch of that name or gc replaces it (see `removeRef`).
   */
  deletedAt?: string
  /**
   * On a tombstone (format 2.0): its deleter will not remove it, so the next branch of the name
   * may replace it at once, by compare-and-swap. A tombstone without it (gc clearing an old one,
   * or format 1.x) may still be removed blindly by its writer for a short while, and is replaced
   * only once it is old (see `createRef`).
   */
  settled?: true
  /**
   * Format 2.0: a copy of the branch's immutable record (when and from what it was created), so
   * listing branches reads the refs alone. Absent on refs written by format 1.x.
   */
  origin?: RefOrigin
  /**
   * A hint, never trusted: the snapshots below `head` and where its first pages are stored, so a
   * reader can fetch them alongside the head's manifest instead of one after another (see
   * {@link ReadHint}). Absent on refs written before hints existed.
   */
  readHint?: ReadHint
}

/**
 * What a cold reader of a ref's head fetches right after the ref, all at once: the manifests of
 * the head's chain and the runs of its first pages. Written by whoever publishes the head; never
 * trusted: a reader uses the hint only when `snapshot` is the ref's head, follows the chain by the
 * manifests' own fallback pointers (a manifest is named by the hash of its bytes), and keeps a
 * hinted page only if its bytes hash to the page's hash in the resolved table. A stale or wrong
 * hint, or a missing object, costs the reader only the fetches it would have made without one.
 */
export interface ReadHint {
  /** The snapshot the hint describes (the ref's head when it was written). */
  snapshot: SnapshotId
  /** The snapshots of its chain below it in this store, in order: its fallback, that one's, … */
  fallbacks: SnapshotId[]
  /** Where its pages 1, 2, … are stored: runs of consecutive pages. */
  runs: HintedRun[]
}

/** Pages `first`, `first + 1`, … stored at bytes `[offset, offset + length)` of segment `segment`. */
export interface HintedRun {
  segment: SegmentId
  offset: number
  length: number
  first: PageNo
}

/** The most fallbacks a hint lists (a reader ignores a hint with more). */
export const MAX_HINTED_FALLBACKS = 16

/** Where a branch came from: the immutable part of its branch record, copied into its ref. */
export interface RefOrigin {
  createdAt: string
  /** The snapshot the branch was forked from (null: created by import). */
  source: SnapshotId | null
  sourceBranch: string | null
}

/** The origin a ref copies from its branch's record. */
export function originOf(record: Pick<BranchRecord, 'createdAt' | 'source' | 'sourceBranch'>): RefOrigin {
  return { createdAt: record.createdAt, source: record.source, sourceBranch: record.sourceBranch }
}

/**
 * Encode a ref. `upgrading`: mark it as written by `upgrade` before the store's format marker
 * switched (see {@link decodeRefRecord}); every other write leaves the mark off.
 */
export function encodeRef(ref: Ref, opts: { upgrading?: boolean } = {}): Uint8Array {
  const { readHint, ...rest } = ref
  return encodeObject('ref', {
    ...rest,
    ...(opts.upgrading ? { upgrading: true } : {}),
    ...(readHint ? { readHint: { snapshot: readHint.snapshot, fallbacks: readHint.fallbacks, runs: readHint.runs.map((r) => [r.segment, r.offset, r.length, r.first]) } } : {}),
  })
}

/** Decode the ref stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodeRef(key: string, bytes: Uint8Array): Ref {
  return decodeRefRecord(key, bytes).ref
}

/**
 * Decode the ref stored at `key`, and say whether the record proves the store is of the current
 * format: it was written in this format (its version's major is {@link SUPPORTED_MAJOR}) and not by
 * `upgrade` before the store's marker switched (`upgrading`). Only a writer of this format writes
 * such a ref, and it writes only to a store whose marker says this format; a later major's upgrade
 * rewrites every ref as a record of its own version, which this build refuses.
 */
export function decodeRefRecord(key: string, bytes: Uint8Array): { ref: Ref; upgrading: boolean; provesFormat: boolean } {
  const obj = decodeObject('ref', key, bytes)
  const upgrading = obj.upgrading === true
  return { ref: readRef(key, obj), upgrading, provesFormat: obj.v[0] === SUPPORTED_MAJOR && !upgrading }
}

function readRef(key: string, obj: Record<string, unknown>): Ref {
  const r = new FieldReader(key, obj)
  const head = r.string('head')
  const base = r.string('base')
  if (!isSnapshotId(head) || !isSnapshotId(base)) throw new CorruptObjectError({ key, reason: 'head or base is not a snapshot id' })
  const movedTo = r.optionalString('movedTo')
  const deletedAt = r.optionalString('deletedAt')
  const settled = r.obj.settled === true
  const o = r.object('origin')
  let origin: RefOrigin | null = null
  if (o !== null) {
    const or = new FieldReader(key, o)
    const source = or.optionalString('source')
    if (source !== null && !isSnapshotId(source)) throw new CorruptObjectError({ key, reason: 'origin.source is not a snapshot id' })
    origin = { createdAt: or.string('createdAt'), source, sourceBranch: or.optionalString('sourceBranch') }
  }
  const readHint = decodeReadHint(r.obj.readHint)
  return {
    name: r.string('name'),
    branchId: r.string('branchId') as BranchId,
    head,
    base,
    updatedAt: r.string('updatedAt'),
    expiresAt: r.optionalString('expiresAt'),
    ...(movedTo === null ? {} : { movedTo }),
    ...(deletedAt === null ? {} : { deletedAt }),
    ...(settled && deletedAt !== null ? { settled: true as const } : {}),
    ...(origin === null ? {} : { origin }),
    ...(readHint === null ? {} : { readHint }),
  }
}

/**
 * The `readHint` of a decoded ref, or null if there is none or it is malformed: a hint is never a
 * reason to refuse a ref (a hand-edited or damaged one only costs readers the hint).
 */
function decodeReadHint(value: unknown): ReadHint | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return null
  const { snapshot, fallbacks, runs } = value as Record<string, unknown>
  if (typeof snapshot !== 'string' || !isSnapshotId(snapshot) || !Array.isArray(fallbacks) || !Array.isArray(runs)) return null
  if (fallbacks.length > MAX_HINTED_FALLBACKS || !fallbacks.every((f): f is SnapshotId => typeof f === 'string' && isSnapshotId(f))) return null
  const out: HintedRun[] = []
  for (const r of runs) {
    if (!Array.isArray(r) || r.length !== 4) return null
    const [segment, offset, length, first] = r as unknown[]
    const uint = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
    if (typeof segment !== 'string' || !isSegmentId(segment) || !uint(offset) || !uint(length) || !uint(first) || length === 0 || first === 0) return null
    out.push({ segment, offset, length, first: first as PageNo })
  }
  return { snapshot, fallbacks, runs: out }
}
