import { FieldReader, decodeObject, encodeObject } from './codec.js'
import type { BranchId, SnapshotId } from './ids.js'

/** The immutable record of a branch: its id, first name, and where it was forked from. */
export interface BranchRecord {
  id: BranchId
  /** The name it was created with (names can change; the id cannot). */
  name: string
  /** ISO-8601 creation time. */
  createdAt: string
  /** The snapshot it was forked from, or null for a branch created by import. */
  source: SnapshotId | null
  /** The branch the source snapshot was taken from, if it was named by branch. */
  sourceBranch: string | null
}

/** Encode a branch record. */
export function encodeBranchRecord(b: BranchRecord): Uint8Array {
  return encodeObject('branch', { ...b })
}

/** Decode the branch record at `key`. */
export function decodeBranchRecord(key: string, bytes: Uint8Array): BranchRecord {
  const r = new FieldReader(key, decodeObject('branch', key, bytes))
  return {
    id: r.string('id') as BranchId,
    name: r.string('name'),
    createdAt: r.string('createdAt'),
    source: r.optionalString('source') as SnapshotId | null,
    sourceBranch: r.optionalString('sourceBranch'),
  }
}
