/**
 * Just enough of SQLite's b-tree page format to find where a page sits in its tree and which
 * keys it covers (see the file format's "B-tree Pages" section): page headers, cell pointers,
 * child pointers and rowids. Pure: bytes in, numbers out.
 */

/** The four b-tree page types (first header byte). */
export const PAGE_INTERIOR_INDEX = 2
export const PAGE_INTERIOR_TABLE = 5
export const PAGE_LEAF_INDEX = 10
export const PAGE_LEAF_TABLE = 13

/** The smallest and largest rowid: the bounds of a table b-tree's key space. */
export const MIN_ROWID = -(2n ** 63n)
export const MAX_ROWID = 2n ** 63n - 1n

/** A parsed b-tree page header with its cell offsets. */
export interface BtreePage {
  pageNo: number
  type: number
  /** Offsets of the cells within the page, in key order. */
  cells: number[]
  /** Interior pages: the right-most child. */
  rightChild: number
}

/** True for the type byte of any b-tree page. */
export function isBtreeType(type: number): boolean {
  return type === PAGE_INTERIOR_INDEX || type === PAGE_INTERIOR_TABLE || type === PAGE_LEAF_INDEX || type === PAGE_LEAF_TABLE
}

/**
 * The header of b-tree page `pageNo` (page 1's starts after the 100-byte database header), or
 * null when the bytes are not a well-formed b-tree page (an overflow or freelist page, say).
 */
export function parseBtreePage(pageNo: number, page: Uint8Array): BtreePage | null {
  const h = pageNo === 1 ? 100 : 0
  if (page.length < h + 12) return null
  const type = page[h]!
  if (!isBtreeType(type)) return null
  const interior = type === PAGE_INTERIOR_INDEX || type === PAGE_INTERIOR_TABLE
  const count = (page[h + 3]! << 8) | page[h + 4]!
  const at = h + (interior ? 12 : 8)
  if (at + 2 * count > page.length) return null
  const cells: number[] = []
  for (let i = 0; i < count; i++) {
    const off = (page[at + 2 * i]! << 8) | page[at + 2 * i + 1]!
    if (off < at + 2 * count || off >= page.length) return null
    cells.push(off)
  }
  const rightChild = interior ? u32(page, h + 8) : 0
  return { pageNo, type, cells, rightChild }
}

/** True for interior pages. */
export function isInterior(p: BtreePage): boolean {
  return p.type === PAGE_INTERIOR_INDEX || p.type === PAGE_INTERIOR_TABLE
}

/** True for pages of table (rowid-keyed) b-trees. */
export function isTableTree(p: BtreePage): boolean {
  return p.type === PAGE_INTERIOR_TABLE || p.type === PAGE_LEAF_TABLE
}

/** The left child of interior cell `i`. */
export function childOf(page: Uint8Array, p: BtreePage, i: number): number {
  return u32(page, p.cells[i]!)
}

/** Every child of an interior page, left to right (the right-most last). */
export function childrenOf(page: Uint8Array, p: BtreePage): number[] {
  return [...p.cells.map((_, i) => childOf(page, p, i)), p.rightChild]
}

/** The rowid of cell `i` of a table b-tree page (interior: the separator key). */
export function rowidOf(page: Uint8Array, p: BtreePage, i: number): bigint {
  let at = p.cells[i]!
  if (p.type === PAGE_INTERIOR_TABLE) return varint(page, at + 4).value
  at += varint(page, at).length // payload size
  return varint(page, at).value
}

/** Where a cell's payload lies: its size, its part on the page, and the first overflow page (0 when it all fits). */
export interface CellPayload {
  payloadAt: number
  size: number
  /** End of the part on the page. */
  localEnd: number
  /** End of the cell (after the overflow page number, when the payload spills). */
  cellEnd: number
  overflow: number
}

/**
 * The payload of cell `i` of a leaf table page or any index page (`usable`: the page size less
 * the reserved bytes), by the file format's local-payload rule: up to X bytes on the page (X is
 * U-35 for table leaves, ((U-12)·64/255)-23 for index pages), else M plus the remainder modulo
 * U-4 when that fits X, else M (M = ((U-12)·32/255)-23).
 */
export function cellPayload(page: Uint8Array, p: BtreePage, i: number, usable: number): CellPayload {
  let at = p.cells[i]! + (p.type === PAGE_INTERIOR_INDEX ? 4 : 0)
  const size = varint(page, at)
  at += size.length
  if (p.type === PAGE_LEAF_TABLE) at += varint(page, at).length
  const payload = Number(size.value)
  const maxLocal = p.type === PAGE_LEAF_TABLE ? usable - 35 : Math.floor(((usable - 12) * 64) / 255) - 23
  const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23
  let local = payload
  if (payload > maxLocal) {
    const k = minLocal + ((payload - minLocal) % (usable - 4))
    local = k <= maxLocal ? k : minLocal
  }
  const localEnd = at + local
  const spills = local < payload && localEnd + 4 <= page.length
  return { payloadAt: at, size: payload, localEnd, cellEnd: localEnd + (local < payload ? 4 : 0), overflow: spills ? u32(page, localEnd) : 0 }
}

/** SQLite's variable-length integer at `at`: 1–9 bytes, big-endian, two's complement. */
export function varint(buf: Uint8Array, at: number): { value: bigint; length: number } {
  let v = 0n
  for (let i = 0; i < 8; i++) {
    const b = buf[at + i]!
    v = (v << 7n) | BigInt(b & 0x7f)
    if ((b & 0x80) === 0) return { value: BigInt.asIntN(64, v), length: i + 1 }
  }
  v = (v << 8n) | BigInt(buf[at + 8]!)
  return { value: BigInt.asIntN(64, v), length: 9 }
}

/** The freelist fields of the database header (page 1): first trunk page and total freelist pages. */
export function freelistHeader(page1: Uint8Array): { freelistTrunk: number; freelistCount: number } {
  return { freelistTrunk: u32(page1, 32), freelistCount: u32(page1, 36) }
}

/** Big-endian unsigned 32-bit integer at `at`. */
export function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + (buf[at + 1]! << 16) + (buf[at + 2]! << 8) + buf[at + 3]!
}
