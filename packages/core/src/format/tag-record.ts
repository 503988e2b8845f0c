import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { isSnapshotId, type SnapshotId } from './ids.js'

/**
 * A tag: a name for one snapshot, stored at `tagKey(name)`. A tag is a gc root: the snapshot and
 * everything its chain reads stay alive as long as the tag exists, whatever the retention policy.
 */
export interface TagRecord {
  name: string
  snapshot: SnapshotId
  /** ISO-8601 creation time. */
  createdAt: string
  message: string
}

/** Encode a tag record. */
export function encodeTagRecord(t: TagRecord): Uint8Array {
  return encodeObject('tag', { name: t.name, snapshot: t.snapshot, createdAt: t.createdAt, message: t.message })
}

/** Decode the tag stored at `key`; `CorruptObjectError` on anything malformed. */
export function decodeTagRecord(key: string, bytes: Uint8Array): TagRecord {
  const r = new FieldReader(key, decodeObject('tag', key, bytes))
  const snapshot = r.string('snapshot')
  if (!isSnapshotId(snapshot)) throw new CorruptObjectError({ key, reason: 'snapshot is not a snapshot id' })
  return { name: r.string('name'), snapshot, createdAt: r.string('createdAt'), message: r.optionalString('message') ?? '' }
}
