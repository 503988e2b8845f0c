import type { BranchId, SegmentId, SnapshotId } from './ids.js'
import { encodeName, foldName } from './names.js'

// Every object key Strata writes is built here. Physical keys (snapshots, segments, branches)
// never contain a branch name; only refs and tags do, encoded by `encodeName`.

/** `strata.format` — format marker: format version and the store's identity. */
export const FORMAT_KEY = 'strata.format'

/** `refs/` — prefix of every ref; listing refs is one prefix scan. */
export const REFS_PREFIX = 'refs/'

/**
 * `refs/{encodedFoldedName}` — `{name, branchId, head, base, …}`; the only mutable objects,
 * CAS-updated. The key is derived from the case-folded name (the ref holds the name as written),
 * so names differing only in case share one key and a create-only put keeps them unique.
 */
export const refKey = (name: string): string => `${REFS_PREFIX}${encodeName(foldName(name))}`

/**
 * `index/refs` — a cache of every ref's bytes with the version they were read at, so a reader
 * that lists `refs/` fetches only the refs that changed since (see `readRefObjects`). Never
 * authoritative: an entry counts only while its version matches the listing.
 */
export const REF_INDEX_KEY = 'index/refs'

/** Format 1.x only: `refs/{encodedName}`, the ref keyed by the exact name (read-only; `upgrade` moves it to {@link refKey}). */
export const legacyRefKey = (name: string): string => `${REFS_PREFIX}${encodeName(name)}`

/** `tags/` — prefix of every tag. */
export const TAGS_PREFIX = 'tags/'

/**
 * `tags/{encodedFoldedName}` — tag record. Like a ref, keyed by the case-folded name (the record
 * holds the name as written), so one create-only put keeps tag names unique regardless of case.
 */
export const tagKey = (name: string): string => `${TAGS_PREFIX}${encodeName(foldName(name))}`

/** `tags/{encodedName}` — where tags of names with upper-case letters were kept before tag keys were case-folded; still read. */
export const legacyTagKey = (name: string): string => `${TAGS_PREFIX}${encodeName(name)}`

/**
 * `index/tags-folded` — written once a listing found no tag at a {@link legacyTagKey} that differs
 * from its {@link tagKey}; from then on creating a tag needs no listing.
 */
export const TAGS_FOLDED_KEY = 'index/tags-folded'

/** `branches/` — prefix of every branch record. */
export const BRANCHES_PREFIX = 'branches/'

/** `branches/{branchId}` — immutable record of where a branch was forked from. */
export const branchKey = (id: BranchId): string => `${BRANCHES_PREFIX}${id}`

/** `snapshots/` — prefix of every snapshot manifest. */
export const SNAPSHOTS_PREFIX = 'snapshots/'

/** `snapshots/{snapshotId}` — immutable manifest; the id is the hash of its bytes. */
export const snapshotKey = (id: SnapshotId): string => `${SNAPSHOTS_PREFIX}${id}`

/** `segments/` — prefix of every segment. */
export const SEGMENTS_PREFIX = 'segments/'

/** `segments/{segmentId}` — immutable run of page images, content-addressed. */
export const segmentKey = (id: SegmentId): string => `${SEGMENTS_PREFIX}${id}`

/** `pins/` — prefix of pins: roots held for other stores that stack on this one. */
export const PINS_PREFIX = 'pins/'

/**
 * `pins/{dependentStoreId}/{snapshotId}` — a pin record: another store (identified by the UUID
 * of its format marker) stacks on snapshot `snapshotId` of this one, so gc keeps it.
 */
export const pinKey = (dependentStoreId: string, snapshot: SnapshotId): string => `${PINS_PREFIX}${dependentStoreId}/${snapshot}`

/** `holds/` — prefix of holds: snapshots and branches gc must keep regardless of retention and expiry. */
export const HOLDS_PREFIX = 'holds/'

/** `holds/snapshot/{snapshotId}` — a hold on one snapshot. */
export const snapshotHoldKey = (id: SnapshotId): string => `${HOLDS_PREFIX}snapshot/${id}`

/** `holds/branch/{encodedName}` — a hold on a branch name: it never expires and keeps its whole history. */
export const branchHoldKey = (name: string): string => `${HOLDS_PREFIX}branch/${encodeName(name)}`

/** `pins/{dependentStoreId}/` — prefix of every pin one dependent store holds here. */
export const pinsOfStorePrefix = (dependentStoreId: string): string => `${PINS_PREFIX}${dependentStoreId}/`

/** `bases/` — prefix of base-store records: the other stores this one stacks on. */
export const BASES_PREFIX = 'bases/'

/** `bases/{storeId}` — where base store `storeId` lives now (`BaseStoreRecord`); CAS-updated by repoint. */
export const baseStoreKey = (storeId: string): string => `${BASES_PREFIX}${storeId}`

/** `intents/` — prefix of intents: short-lived roots of operations in flight (see `repo/reachability/intents.ts`). */
export const INTENTS_PREFIX = 'intents/'

/** `intents/{uuid}` — one operation's intent: the snapshots it is about to make reachable, renewed while it runs. */
export const intentKey = (id: string): string => `${INTENTS_PREFIX}${id}`

/** `sweeps/` — prefix of sweep markers: one per gc between its final read of the roots and the end of its sweep. */
export const SWEEPS_PREFIX = 'sweeps/'

/** `sweeps/{uuid}` — the marker of one running gc sweep, renewed while it runs. */
export const sweepKey = (id: string): string => `${SWEEPS_PREFIX}${id}`

/** `sweeps/ended/` — prefix of the records of ended sweeps (inside {@link SWEEPS_PREFIX}: one listing reads both). */
export const SWEEPS_ENDED_PREFIX = `${SWEEPS_PREFIX}ended/`

/**
 * `sweeps/ended/{ms}-{uuid}` — the record that the sweep `sweeps/{uuid}` ended at `endedAtMs`
 * (repository clock, 15 decimal digits), kept a while so that a listing shows recent sweeps.
 */
export const sweepEndedKey = (id: string, endedAtMs: number): string => `${SWEEPS_ENDED_PREFIX}${String(Math.max(0, Math.floor(endedAtMs))).padStart(15, '0')}-${id}`

/** The time in an ended-sweep key (ms), or null if `key` is not one. */
export function sweepEndedAt(key: string): number | null {
  const m = /^sweeps\/ended\/(\d{15})-[^/]+$/.exec(key)
  return m ? Number(m[1]) : null
}

/** `doctor/` — prefix of the scratch objects `probeStore` writes and removes again. */
export const DOCTOR_PREFIX = 'doctor/'

/** `doctor/{runId}/{name}` — one scratch object of a store probe. */
export const doctorKey = (runId: string, name: string): string => `${DOCTOR_PREFIX}${runId}/${name}`
