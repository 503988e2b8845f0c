import { FieldReader, decodeObject, encodeObject } from './codec.js'

/**
 * Where a base store lives now, stored at `baseStoreKey(storeId)` in the store that stacks on
 * it. Fallback pointers record a base store's identity and the URL it had when the branch was
 * created; manifests are immutable, so when the base moves, this one mutable record (updated by
 * compare-and-swap, by `repoint`) says where to find it. It also lists the base stores a
 * repository has ever stacked on, which `prunePins` needs to find the pins it holds there.
 * The location it names is opened only if it is on the caller's allowlist.
 */
export interface BaseStoreRecord {
  /** The base store's identity: the UUID of its format marker. */
  storeId: string
  /** Its current URL (normalized). */
  url: string
  /** ISO-8601 time the record was first written. */
  createdAt: string
  /** ISO-8601 time of the last change of `url`. */
  updatedAt: string
}

/** Encode a base-store record. */
export function encodeBaseStoreRecord(r: BaseStoreRecord): Uint8Array {
  return encodeObject('base-store', { storeId: r.storeId, url: r.url, createdAt: r.createdAt, updatedAt: r.updatedAt })
}

/** Decode the base-store record at `key`; `CorruptObjectError` on anything malformed. */
export function decodeBaseStoreRecord(key: string, bytes: Uint8Array): BaseStoreRecord {
  const r = new FieldReader(key, decodeObject('base-store', key, bytes))
  return { storeId: r.string('storeId'), url: r.string('url'), createdAt: r.string('createdAt'), updatedAt: r.string('updatedAt') }
}
