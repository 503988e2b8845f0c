import { cellPayload, varint, type BtreePage } from './btree-page.js'

/** One value of a record as SQLite stored it: NULL, integer, real, text or blob. */
export type KeyValue = null | bigint | number | string | Uint8Array

/** The text encoding of a database (header offset 56): 1 UTF-8, 2 UTF-16le, 3 UTF-16be. */
export type TextEncoding = 1 | 2 | 3

const DECODERS: Record<TextEncoding, { decode(bytes: Uint8Array): string }> = {
  1: new TextDecoder('utf-8', { fatal: true }),
  2: new TextDecoder('utf-16le', { fatal: true }),
  3: new TextDecoder('utf-16be', { fatal: true }),
}

/**
 * The first `columns` values of the record in cell `i` of index b-tree page `p` (a leaf, or an
 * interior page's separator), read from the part of the payload stored on the page. `usable` is
 * the page size less the reserved bytes. A string says why the key cannot be read there: it
 * spills to overflow pages, or its text does not decode in `encoding`.
 */
export function indexCellKey(page: Uint8Array, p: BtreePage, i: number, columns: number, usable: number, encoding: TextEncoding): KeyValue[] | string {
  const { payloadAt: at, localEnd: end } = cellPayload(page, p, i, usable)
  if (end > page.length) return 'a key cell runs past its page'
  const headerSize = varint(page, at)
  let h = at + headerSize.length
  let body = at + Number(headerSize.value)
  const out: KeyValue[] = []
  for (let c = 0; c < columns; c++) {
    if (h >= at + Number(headerSize.value) || body > end) return 'a key spills to overflow pages'
    const t = varint(page, h)
    h += t.length
    const type = Number(t.value)
    const n = serialSize(type)
    if (body + n > end) return 'a key spills to overflow pages'
    const bytes = page.subarray(body, body + n)
    body += n
    if (type === 0) out.push(null)
    else if (type >= 1 && type <= 6) {
      let v = 0n
      for (const b of bytes) v = (v << 8n) | BigInt(b)
      out.push(BigInt.asIntN(8 * n, v))
    } else if (type === 7) out.push(new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0))
    else if (type === 8 || type === 9) out.push(BigInt(type - 8))
    else if (type >= 12 && type % 2 === 0) out.push(bytes.slice())
    else if (type >= 13) {
      try {
        out.push(DECODERS[encoding].decode(bytes))
      } catch {
        return 'a key holds text that does not decode in the database encoding'
      }
    } else return `a key has the reserved serial type ${type}`
  }
  return out
}

/** Bytes a value of serial type `t` takes in a record body. */
function serialSize(t: number): number {
  if (t >= 12) return Math.floor((t - 12) / 2)
  return [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][t]!
}
