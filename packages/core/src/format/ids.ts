import { randomUUID } from 'node:crypto'

/** A snapshot's id: 32 lower-case hex digits, the truncated SHA-256 of its manifest bytes. */
export type SnapshotId = string & { readonly __brand: 'SnapshotId' }

/** A segment's id: 64 lower-case hex digits, SHA-256 over its page size and page hashes. */
export type SegmentId = string & { readonly __brand: 'SegmentId' }

/** A branch's stable id: a UUID, never reused, independent of its name. */
export type BranchId = string & { readonly __brand: 'BranchId' }

/** Hex digits in a snapshot id. */
export const SNAPSHOT_ID_LENGTH = 32

/** True if `s` has the shape of a full snapshot id. */
export function isSnapshotId(s: string): s is SnapshotId {
  return s.length === SNAPSHOT_ID_LENGTH && /^[0-9a-f]+$/.test(s)
}

/** True if `s` could be an abbreviated snapshot id (4 or more hex digits). */
export function isSnapshotIdPrefix(s: string): boolean {
  return s.length >= 4 && s.length <= SNAPSHOT_ID_LENGTH && /^[0-9a-f]+$/.test(s)
}

/** True if `s` has the shape of a segment id. */
export function isSegmentId(s: string): s is SegmentId {
  return s.length === 64 && /^[0-9a-f]+$/.test(s)
}

/** A fresh branch id. */
export function newBranchId(): BranchId {
  return randomUUID() as BranchId
}
