import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { isSnapshotId, type SnapshotId } from './ids.js'

/**
 * An operation in flight, stored at `intentKey(id)` (an intent) or `sweepKey(id)` (a running gc
 * sweep). Both are renewed while their operation runs: one whose `renewedAt` is older than
 * `INTENT_TTL_MS` belongs to an operation that died and is ignored.
 */
export interface IntentRecord {
  /** What runs: `reset`, `branch create`, `import`, `gc`, …. */
  operation: string
  /** The snapshots the operation is about to make reachable; gc keeps them and what they read. */
  snapshots: SnapshotId[]
  /** ISO-8601, when the operation wrote the record first. */
  startedAt: string
  /** ISO-8601, when it last renewed it. */
  renewedAt: string
}

/** Encode an intent or sweep record. */
export function encodeIntentRecord(r: IntentRecord): Uint8Array {
  return encodeObject('intent', { operation: r.operation, snapshots: r.snapshots, startedAt: r.startedAt, renewedAt: r.renewedAt })
}

/** Decode the intent or sweep record stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodeIntentRecord(key: string, bytes: Uint8Array): IntentRecord {
  const r = new FieldReader(key, decodeObject('intent', key, bytes))
  const snapshots = r.stringArray('snapshots')
  if (!snapshots.every(isSnapshotId)) throw new CorruptObjectError({ key, reason: 'snapshots is not a list of snapshot ids' })
  return { operation: r.string('operation'), snapshots, startedAt: r.string('startedAt'), renewedAt: r.string('renewedAt') }
}
