import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { isSnapshotId, type SnapshotId } from './ids.js'

/**
 * A hold: something gc must keep regardless of retention and expiry.
 * - `snapshot` (at `snapshotHoldKey(id)`): the snapshot and everything its chain reads stay alive.
 * - `branch` (at `branchHoldKey(name)`): the branch of that name never expires, cannot be
 *   deleted, and its whole history (every snapshot back along `parent` links on that branch) is
 *   retained. The hold names the branch, not its id: it applies to whichever branch has the name.
 */
export type HoldRecord =
  | { target: 'snapshot'; snapshot: SnapshotId; createdAt: string; reason: string }
  | { target: 'branch'; branch: string; createdAt: string; reason: string }

/** Encode a hold record. */
export function encodeHoldRecord(h: HoldRecord): Uint8Array {
  return h.target === 'snapshot'
    ? encodeObject('hold', { target: 'snapshot', snapshot: h.snapshot, createdAt: h.createdAt, reason: h.reason })
    : encodeObject('hold', { target: 'branch', branch: h.branch, createdAt: h.createdAt, reason: h.reason })
}

/** Decode the hold stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodeHoldRecord(key: string, bytes: Uint8Array): HoldRecord {
  const r = new FieldReader(key, decodeObject('hold', key, bytes))
  const target = r.string('target')
  const createdAt = r.string('createdAt')
  const reason = r.optionalString('reason') ?? ''
  if (target === 'snapshot') {
    const snapshot = r.string('snapshot')
    if (!isSnapshotId(snapshot)) throw new CorruptObjectError({ key, reason: 'snapshot is not a snapshot id' })
    return { target, snapshot, createdAt, reason }
  }
  if (target === 'branch') return { target, branch: r.string('branch'), createdAt, reason }
  throw new CorruptObjectError({ key, reason: `target ${JSON.stringify(target)} is neither snapshot nor branch` })
}
