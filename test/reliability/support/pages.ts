/**
 * Page images the reliability workers write: page number, writer and counter in the first 12
 * bytes, then a fill derived from them, so any page read back says who wrote it and when.
 */
export function stampedPage(size: number, pageNo: number, writer: number, counter: number): Uint8Array {
  const page = new Uint8Array(size).fill((writer * 31 + counter * 7 + pageNo) & 0xff)
  const dv = new DataView(page.buffer)
  dv.setUint32(0, pageNo)
  dv.setUint32(4, writer)
  dv.setUint32(8, counter)
  return page
}

/** The writer and counter a {@link stampedPage} carries. */
export function readStamp(page: Uint8Array): { pageNo: number; writer: number; counter: number } {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength)
  return { pageNo: dv.getUint32(0), writer: dv.getUint32(4), counter: dv.getUint32(8) }
}

/** The pages writer `w` owns in the concurrent-writer tests: `per` consecutive pages from 2 + w·per. */
export function pagesOf(w: number, per: number): number[] {
  return Array.from({ length: per }, (_, i) => 2 + w * per + i)
}
