import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import type { BranchRecord } from './branch-record.js'
import { isSnapshotId, type BranchId, type SnapshotId } from './ids.js'

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
  return encodeObject('ref', { ...ref })
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
  }
}
