import { endianness } from 'node:os'
import { PAGE_HASH_BYTES } from './hash.js'
import type { PageNo } from './page.js'

/**
 * The pages one snapshot owns, as parallel columns sorted by page number. Entry `i` says page
 * `pageNos[i]` lives at slot `slots[i]` (in pages) of segment `segments[i]` (an index into the
 * manifest's segment list) and has content hash `hashes[16i … 16i+16)`.
 */
export interface PageTable {
  /** Owned page numbers, strictly ascending. */
  readonly pageNos: Uint32Array
  /** Per entry: index into the manifest's `segments`. */
  readonly segments: Uint32Array
  /** Per entry: position of the page inside its segment, in pages. */
  readonly slots: Uint32Array
  /** Per entry: 16-byte content hash. */
  readonly hashes: Uint8Array
}

/** A page table with no entries. */
export const EMPTY_PAGE_TABLE: PageTable = {
  pageNos: new Uint32Array(0),
  segments: new Uint32Array(0),
  slots: new Uint32Array(0),
  hashes: new Uint8Array(0),
}

/** One entry, for building tables. */
export interface PageEntry {
  pageNo: PageNo
  segment: number
  slot: number
  /** 16-byte content hash (copied into the table). */
  hash: Uint8Array
}

/** Build a page table from entries in any order. Duplicate page numbers are a bug: throws. */
export function buildPageTable(entries: readonly PageEntry[]): PageTable {
  const sorted = [...entries].sort((a, b) => a.pageNo - b.pageNo)
  const n = sorted.length
  const t = { pageNos: new Uint32Array(n), segments: new Uint32Array(n), slots: new Uint32Array(n), hashes: new Uint8Array(n * PAGE_HASH_BYTES) }
  for (let i = 0; i < n; i++) {
    const e = sorted[i]!
    if (i > 0 && sorted[i - 1]!.pageNo === e.pageNo) throw new Error(`page ${e.pageNo} listed twice`)
    t.pageNos[i] = e.pageNo
    t.segments[i] = e.segment
    t.slots[i] = e.slot
    t.hashes.set(e.hash.subarray(0, PAGE_HASH_BYTES), i * PAGE_HASH_BYTES)
  }
  return t
}

const LITTLE = endianness() === 'LE'

/** The little-endian bytes of a u32 column (the on-store encoding). */
export function u32ToBytes(a: Uint32Array): Uint8Array {
  if (LITTLE) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  const out = new Uint8Array(a.length * 4)
  const dv = new DataView(out.buffer)
  for (let i = 0; i < a.length; i++) dv.setUint32(i * 4, a[i]!, true)
  return out
}

/** A u32 column from its little-endian bytes; null if the length is not a multiple of 4. */
export function bytesToU32(b: Uint8Array): Uint32Array | null {
  if (b.byteLength % 4 !== 0) return null
  const n = b.byteLength / 4
  if (LITTLE && b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, n)
  const out = new Uint32Array(n)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true)
  return out
}
