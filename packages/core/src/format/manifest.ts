import { createHash } from 'node:crypto'
import { CorruptObjectError } from '../errors/index.js'
import { FieldReader, decodeObject, encodeObject } from './codec.js'
import { PAGE_HASH_BYTES } from './hash.js'
import { SNAPSHOT_ID_LENGTH, isSegmentId, isSnapshotId, type BranchId, type SegmentId, type SnapshotId } from './ids.js'
import { snapshotKey } from './keys.js'
import { isPageSize, lockBytePage, type PageCount, type PageSize } from './page.js'
import { bytesToU32, u32ToBytes, type PageTable } from './page-table.js'
import { runCount, type RunChecksums } from './run-checksums.js'
import type { FormatVersion } from './version.js'

/** Where a snapshot falls back to for pages it does not own. */
export interface Fallback {
  /** The snapshot read for pages this one does not own. */
  snapshot: SnapshotId
  /** Set when that snapshot lives in another store: its URL and identity (the store's UUID). */
  store?: { url: string; id: string }
}

/** A segment a manifest references, with its length in bytes. */
export interface SegmentRef {
  id: SegmentId
  length: number
  /**
   * Checksums of the segment's bytes in fixed runs, when the writer recorded them (segments
   * written before they existed have none and are verified page by page). Carried along with
   * the reference: they describe the segment, not the manifest.
   */
  runs?: RunChecksums
}

/**
 * What a merge commit records besides its parent (the target's previous head), so that the next
 * merge between the same histories finds its base.
 */
export interface MergeParents {
  /** The snapshot merged in — the source's head at the time: the merge commit's second parent. */
  source: SnapshotId
  /** The branch the source was named by, if it was (informational; names can change). */
  sourceBranch: string | null
  /** The merge base the merge was computed against. */
  base: SnapshotId
}

/** History and description of a snapshot. */
export interface SnapshotMeta {
  /** The id of the branch it was committed on (null for none). */
  branchId: BranchId | null
  /** The branch's name at commit time (informational; names can change). */
  branchName: string | null
  /** The previous snapshot on the same branch, or null for the first. */
  parent: SnapshotId | null
  message: string
  author: string
  /** ISO-8601 time of the commit. */
  createdAt: string
  tags: string[]
  /** What produced it: import, commit, materialize, … */
  operation: string
  /** Only on a merge commit: the snapshot merged in and the base. Absent on every other snapshot. */
  merge?: MergeParents
}

/**
 * A snapshot manifest: an immutable description of one version of a database. It owns the
 * pages in `pages`; every other page in 1…pageCount is read from `fallback`, transitively.
 */
export interface SnapshotManifest extends SnapshotMeta {
  formatVersion: FormatVersion
  pageSize: PageSize
  pageCount: PageCount
  fallback: Fallback | null
  /** Whole-database checksum (see `DatabaseChecksum`). */
  checksum: Uint8Array
  segments: SegmentRef[]
  pages: PageTable
}

/** A manifest ready to store: its bytes and the id they hash to. */
export interface EncodedManifest {
  id: SnapshotId
  bytes: Uint8Array
}

/** The id of a manifest's bytes: the first 16 bytes of SHA-256, as hex. */
export function manifestId(bytes: Uint8Array): SnapshotId {
  return createHash('sha256').update(bytes).digest('hex').slice(0, SNAPSHOT_ID_LENGTH) as SnapshotId
}

/** Encode a manifest (without `formatVersion`, which is always the current one). */
export function encodeManifest(m: Omit<SnapshotManifest, 'formatVersion'>): EncodedManifest {
  const bytes = encodeObject('snapshot', {
    pageSize: m.pageSize,
    pageCount: m.pageCount,
    fallback: m.fallback ? { snapshot: m.fallback.snapshot, ...(m.fallback.store ? { store: m.fallback.store } : {}) } : null,
    branchId: m.branchId,
    branchName: m.branchName,
    parent: m.parent,
    message: m.message,
    author: m.author,
    createdAt: m.createdAt,
    tags: m.tags,
    operation: m.operation,
    // Written only on merge commits, so every other manifest keeps its bytes (and id).
    ...(m.merge ? { merge: { source: m.merge.source, sourceBranch: m.merge.sourceBranch, base: m.merge.base } } : {}),
    checksum: m.checksum,
    segments: m.segments.map((s) => [s.id, s.length]),
    // Parallel to `segments`, and only when some segment has run checksums: a manifest without
    // them keeps the bytes (and id) it always had, and readers that predate them ignore the field.
    ...(m.segments.some((s) => s.runs) ? { segmentRuns: m.segments.map((s) => (s.runs ? [s.runs.runBytes, s.runs.hashes] : null)) } : {}),
    pageNos: u32ToBytes(m.pages.pageNos),
    pageSegments: u32ToBytes(m.pages.segments),
    pageSlots: u32ToBytes(m.pages.slots),
    pageHashes: m.pages.hashes,
  })
  return { id: manifestId(bytes), bytes }
}

/**
 * Decode and check the manifest stored under snapshot `id`. Throws `CorruptObjectError` if the
 * bytes do not hash to `id`, do not decode, or break an invariant (unsorted pages, a page past
 * the page count, a slot past its segment's end, …); `UnsupportedFormatError` on a future major.
 */
export function decodeManifest(id: SnapshotId, bytes: Uint8Array): SnapshotManifest {
  const key = snapshotKey(id)
  if (manifestId(bytes) !== id) throw new CorruptObjectError({ key, reason: 'its bytes do not hash to its id' })
  const obj = decodeObject('snapshot', key, bytes)
  const r = new FieldReader(key, obj)
  const corrupt = (reason: string): never => {
    throw new CorruptObjectError({ key, reason })
  }
  const pageSize = r.uint('pageSize', 65536)
  if (!isPageSize(pageSize)) corrupt(`page size ${pageSize} is not a power of two in 512…65536`)
  const pageCount = r.uint('pageCount') as PageCount
  const fb = r.object('fallback')
  let fallback: Fallback | null = null
  if (fb) {
    const snap = fb.snapshot
    if (typeof snap !== 'string' || !isSnapshotId(snap)) corrupt('fallback.snapshot is not a snapshot id')
    fallback = { snapshot: snap as SnapshotId }
    const st = fb.store as Record<string, unknown> | undefined | null
    if (st !== undefined && st !== null) {
      if (typeof st.url !== 'string' || typeof st.id !== 'string') corrupt('fallback.store is not {url, id}')
      fallback.store = { url: st.url as string, id: st.id as string }
    }
  }
  const parent = r.optionalString('parent')
  if (parent !== null && !isSnapshotId(parent)) corrupt('parent is not a snapshot id')
  const segments = r.array('segments').map((s): SegmentRef => {
    if (!Array.isArray(s) || s.length !== 2 || typeof s[0] !== 'string' || !isSegmentId(s[0]) || !Number.isInteger(s[1]) || (s[1] as number) < 0) {
      return corrupt('a segment entry is not [segmentId, length]')
    }
    return { id: s[0] as SegmentId, length: s[1] as number }
  })
  const runs = obj.segmentRuns
  if (runs !== undefined && runs !== null) {
    if (!Array.isArray(runs) || runs.length !== segments.length) corrupt('segmentRuns does not list one entry per segment')
    ;(runs as unknown[]).forEach((e, i) => {
      if (e === null) return
      const seg = segments[i]!
      if (!Array.isArray(e) || e.length !== 2 || !Number.isInteger(e[0]) || !(e[1] instanceof Uint8Array)) return corrupt('a segmentRuns entry is not [runBytes, checksums]')
      const [runBytes, hashes] = e as [number, Uint8Array]
      if (runBytes < pageSize || runBytes % pageSize !== 0) corrupt(`segment ${seg.id} has runs of ${runBytes} bytes, not a multiple of the page size`)
      if (hashes.byteLength !== runCount(seg.length, runBytes) * PAGE_HASH_BYTES) corrupt(`segment ${seg.id} has run checksums for another length`)
      seg.runs = { runBytes, hashes }
    })
  }
  const pageNos = bytesToU32(r.bytes('pageNos')) ?? corrupt('pageNos is not a u32 column')
  const pageSegments = bytesToU32(r.bytes('pageSegments')) ?? corrupt('pageSegments is not a u32 column')
  const pageSlots = bytesToU32(r.bytes('pageSlots')) ?? corrupt('pageSlots is not a u32 column')
  const hashes = r.bytes('pageHashes')
  const n = pageNos.length
  if (pageSegments.length !== n || pageSlots.length !== n || hashes.byteLength !== n * PAGE_HASH_BYTES) {
    corrupt('page table columns differ in length')
  }
  const lockPage = lockBytePage(pageSize as PageSize)
  for (let i = 0; i < n; i++) {
    const p = pageNos[i]!
    if (p < 1 || p > pageCount) corrupt(`page ${p} lies outside 1…${pageCount}`)
    if (i > 0 && pageNos[i - 1]! >= p) corrupt('page numbers are not strictly ascending')
    if (p === lockPage) corrupt(`it stores the lock-byte page ${p}`)
    const seg = segments[pageSegments[i]!] ?? corrupt(`page ${p} names segment #${pageSegments[i]} of ${segments.length}`)
    if ((pageSlots[i]! + 1) * pageSize > seg.length) corrupt(`page ${p} lies past the end of segment ${seg.id}`)
  }
  const branchId = r.optionalString('branchId') as BranchId | null
  const mg = r.object('merge')
  let merge: MergeParents | null = null
  if (mg) {
    const { source, sourceBranch, base } = mg
    if (typeof source !== 'string' || !isSnapshotId(source) || typeof base !== 'string' || !isSnapshotId(base)) corrupt('merge.source or merge.base is not a snapshot id')
    if (sourceBranch !== null && sourceBranch !== undefined && typeof sourceBranch !== 'string') corrupt('merge.sourceBranch is not a string')
    merge = { source: source as SnapshotId, sourceBranch: (sourceBranch as string | null | undefined) ?? null, base: base as SnapshotId }
  }
  return {
    formatVersion: obj.v,
    pageSize: pageSize as PageSize,
    pageCount,
    fallback,
    branchId,
    branchName: r.optionalString('branchName'),
    parent: parent as SnapshotId | null,
    message: r.optionalString('message') ?? '',
    author: r.optionalString('author') ?? '',
    createdAt: r.string('createdAt'),
    tags: r.stringArray('tags'),
    operation: r.optionalString('operation') ?? 'commit',
    ...(merge ? { merge } : {}),
    checksum: r.bytes('checksum', PAGE_HASH_BYTES),
    segments,
    pages: { pageNos, segments: pageSegments, slots: pageSlots, hashes },
  }
}
