/**
 * The child page numbers of B-tree interior page `page` (page number `p`), or null if it is not
 * an interior page. Table and index interior pages alike: a 12-byte header (type 0x05 or 0x02,
 * cell count at 3, right-most child at 8) then the cell pointer array; each cell starts with its
 * child's page number. Page 1's header follows the 100-byte database header. Defensive: stored
 * bytes are verified, but a page number out of range is dropped, not followed.
 */
export function interiorChildren(page: Uint8Array, p: number, pageCount: number): number[] | null {
  const h = p === 1 ? 100 : 0
  const type = page[h]
  if (type !== 0x05 && type !== 0x02) return null
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  const cells = view.getUint16(h + 3)
  if (h + 12 + 2 * cells > page.byteLength) return null
  const out: number[] = []
  const add = (c: number): void => {
    if (c >= 1 && c <= pageCount) out.push(c)
  }
  for (let i = 0; i < cells; i++) {
    const at = view.getUint16(h + 12 + 2 * i)
    if (at + 4 <= page.byteLength) add(view.getUint32(at))
  }
  add(view.getUint32(h + 8))
  return out
}
