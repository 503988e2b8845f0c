import { PAGE_HASH_BYTES } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import type { PageCount, PageNo, PageSize } from '../../format/page.js'
import type { ObjectStore } from '../../store/object-store.js'

// A resolved page table and how to read it, apart from the chain loader that builds one (and
// the manifest decoding it needs): a thread that only fetches pages imports this alone.

/** A store a chain can read from, with its identity. */
export interface StoreHandle {
  store: ObjectStore
  /** The store's UUID from its format marker. */
  id: string
}

/** One level of a fallback chain: a snapshot and the store it lives in. */
export interface ChainLevel {
  id: SnapshotId
  manifest: SnapshotManifest
  store: StoreHandle
}

/** Per-page marker in a resolved table for the lock-byte page (never stored; reads as zeros). */
export const LOCK_PAGE_LEVEL = 0xffff

/**
 * A snapshot's page table resolved down its chain: for each page 1…pageCount, the level that
 * serves it and the entry in that level's page table.
 */
export interface ResolvedTable {
  snapshot: SnapshotId
  pageSize: PageSize
  pageCount: PageCount
  /** `levels[0]` is the snapshot itself, then each fallback in turn. */
  levels: ChainLevel[]
  /** Index p-1: the level serving page p, or {@link LOCK_PAGE_LEVEL}. */
  level: Uint16Array
  /** Index p-1: the entry of page p in its level's page table. */
  entry: Uint32Array
}

/** Where one resolved page lives. */
export interface PageLocation {
  level: ChainLevel
  segment: number
  slot: number
  /** The page's 16-byte hash (a view into the level's table). */
  hash: Uint8Array
}

/** The location of page `p` in `t`, or null for the lock-byte page. */
export function locatePage(t: ResolvedTable, p: PageNo): PageLocation | null {
  const li = t.level[p - 1]!
  if (li === LOCK_PAGE_LEVEL) return null
  const level = t.levels[li]!
  const e = t.entry[p - 1]!
  const pages = level.manifest.pages
  return { level, segment: pages.segments[e]!, slot: pages.slots[e]!, hash: pages.hashes.subarray(e * PAGE_HASH_BYTES, (e + 1) * PAGE_HASH_BYTES) }
}

/** The 16-byte hash of page `p` in `t`, or null for the lock-byte page. */
export function pageHashOf(t: ResolvedTable, p: PageNo): Uint8Array | null {
  const li = t.level[p - 1]!
  if (li === LOCK_PAGE_LEVEL) return null
  const e = t.entry[p - 1]!
  return t.levels[li]!.manifest.pages.hashes.subarray(e * PAGE_HASH_BYTES, (e + 1) * PAGE_HASH_BYTES)
}
