import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { FORMAT_KEY } from './keys.js'
import type { FormatVersion } from './version.js'

/** The content of `strata.format`: the format version and the store's identity. */
export interface StoreMarker {
  formatVersion: FormatVersion
  /** A UUID fixed at `init`: fallbacks from other stores record it to detect a swapped store. */
  storeId: string
  createdAt: string
}

/** Encode the marker (always at the current format version). */
export function encodeStoreMarker(m: Omit<StoreMarker, 'formatVersion'>): Uint8Array {
  return encodeObject('format', { storeId: m.storeId, createdAt: m.createdAt })
}

/** Decode the marker; `UnsupportedFormatError` for a future major version. */
export function decodeStoreMarker(bytes: Uint8Array): StoreMarker {
  const obj = decodeObject('format', FORMAT_KEY, bytes)
  const r = new FieldReader(FORMAT_KEY, obj)
  return { formatVersion: obj.v, storeId: r.string('storeId'), createdAt: r.string('createdAt') }
}
