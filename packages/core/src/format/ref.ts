import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
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
   * deletion happens; it is not a branch (not listed, not a root, its name is free) and it goes
   * away right after, or is replaced by the next branch of that name (see `removeRef`).
   */
  deletedAt?: string
  /**
   * Format 2.0: a copy of the branch's immutable record (when and from what it was created), so
   * listing branches reads the refs alone. Absent on refs written by format 1.x.
   */
  origin?: RefOrigin
  /**
   * A hint, never trusted: where the first pages of `head` are stored, so that a reader can fetch
   * them alongside the manifest instead of after it (see {@link FirstPagesHint}). Absent on refs
   * written before hints existed, and on refs whose writer did not know where those pages are.
   */
  firstPages?: FirstPagesHint
}

/**
 * Where the first pages of a snapshot are stored: runs of consecutive pages, each at a byte
 * range of one segment of the same store. Written by whoever publishes the snapshot as a head;
 * a reader fetches the runs in parallel with the manifest and keeps a page only if its bytes
 * hash to the page's hash in the resolved table. A hint for another snapshot than the ref's
 * head (a ref rewritten by a writer that kept the field), a missing segment or wrong bytes cost
 * the reader the fetch it would have made anyway, never an error.
 */
export interface FirstPagesHint {
  /** The snapshot the hint describes (the ref's head when it was written). */
  snapshot: SnapshotId
  runs: HintedRun[]
}

/** Pages `first`, `first + 1`, … stored at bytes `[offset, offset + length)` of segment `segment`. */
export interface HintedRun {
  segment: SegmentId
  offset: number
  length: number
  first: PageNo
}

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

/** Encode a ref. */
export function encodeRef(ref: Ref): Uint8Array {
  const { firstPages, ...rest } = ref
  return encodeObject('ref', {
    ...rest,
    ...(firstPages ? { firstPages: { snapshot: firstPages.snapshot, runs: firstPages.runs.map((r) => [r.segment, r.offset, r.length, r.first]) } } : {}),
  })
}

/** Decode the ref stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodeRef(key: string, bytes: Uint8Array): Ref {
  const r = new FieldReader(key, decodeObject('ref', key, bytes))
  const head = r.string('head')
  const base = r.string('base')
  if (!isSnapshotId(head) || !isSnapshotId(base)) throw new CorruptObjectError({ key, reason: 'head or base is not a snapshot id' })
  const movedTo = r.optionalString('movedTo')
  const deletedAt = r.optionalString('deletedAt')
  const o = r.object('origin')
  let origin: RefOrigin | null = null
  if (o !== null) {
    const or = new FieldReader(key, o)
    const source = or.optionalString('source')
    if (source !== null && !isSnapshotId(source)) throw new CorruptObjectError({ key, reason: 'origin.source is not a snapshot id' })
    origin = { createdAt: or.string('createdAt'), source, sourceBranch: or.optionalString('sourceBranch') }
  }
  const firstPages = decodeFirstPages(r.obj.firstPages)
  return {
    name: r.string('name'),
    branchId: r.string('branchId') as BranchId,
    head,
    base,
    updatedAt: r.string('updatedAt'),
    expiresAt: r.optionalString('expiresAt'),
    ...(movedTo === null ? {} : { movedTo }),
    ...(deletedAt === null ? {} : { deletedAt }),
    ...(origin === null ? {} : { origin }),
    ...(firstPages === null ? {} : { firstPages }),
  }
}

/**
 * The `firstPages` hint of a decoded ref, or null if there is none or it is malformed: a hint is
 * never a reason to refuse a ref (a hand-edited or damaged one only costs readers the hint).
 */
function decodeFirstPages(value: unknown): FirstPagesHint | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return null
  const { snapshot, runs } = value as Record<string, unknown>
  if (typeof snapshot !== 'string' || !isSnapshotId(snapshot) || !Array.isArray(runs)) return null
  const out: HintedRun[] = []
  for (const r of runs) {
    if (!Array.isArray(r) || r.length !== 4) return null
    const [segment, offset, length, first] = r as unknown[]
    const uint = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
    if (typeof segment !== 'string' || !isSegmentId(segment) || !uint(offset) || !uint(length) || !uint(first) || length === 0 || first === 0) return null
    out.push({ segment, offset, length, first: first as PageNo })
  }
  return { snapshot, runs: out }
}
