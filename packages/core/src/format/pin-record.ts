import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { isSnapshotId, type SnapshotId } from './ids.js'

/**
 * A pin, stored at `pinKey(dependentStore.id, snapshot)`: another store stacks on `snapshot` of
 * this one through a cross-store fallback. gc treats every pin as a root, because it cannot see
 * the other store's refs. Whoever creates the dependency writes the pin first and removes it
 * once nothing in the dependent store needs the snapshot.
 */
export interface PinRecord {
  /** The snapshot of this store that is kept alive. */
  snapshot: SnapshotId
  /** The store that depends on it: its URL and identity (the UUID of its format marker). */
  dependentStore: { url: string; id: string }
  /** ISO-8601 creation time. */
  createdAt: string
}

/** Encode a pin record. */
export function encodePinRecord(p: PinRecord): Uint8Array {
  return encodeObject('pin', { snapshot: p.snapshot, dependentStore: { url: p.dependentStore.url, id: p.dependentStore.id }, createdAt: p.createdAt })
}

/** Decode the pin stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodePinRecord(key: string, bytes: Uint8Array): PinRecord {
  const r = new FieldReader(key, decodeObject('pin', key, bytes))
  const snapshot = r.string('snapshot')
  if (!isSnapshotId(snapshot)) throw new CorruptObjectError({ key, reason: 'snapshot is not a snapshot id' })
  const dep = r.object('dependentStore')
  if (!dep || typeof dep.url !== 'string' || typeof dep.id !== 'string') {
    throw new CorruptObjectError({ key, reason: 'dependentStore is not {url, id}' })
  }
  return { snapshot, dependentStore: { url: dep.url, id: dep.id }, createdAt: r.string('createdAt') }
}
