import { isPageSize, pageCount, pageSize, type PageCount, type PageSize } from './page.js'

/** The 16 bytes every SQLite database file starts with. */
export const SQLITE_MAGIC = new TextEncoder().encode('SQLite format 3\0')

/** Length of the database header at the start of page 1. */
export const SQLITE_HEADER_BYTES = 100

/** What the header of page 1 says about a database. */
export interface SqliteHeader {
  pageSize: PageSize
  /** The in-header database size in pages, or null when the header says it is not valid. */
  headerPageCount: PageCount | null
  /** File format write/read versions: 1 = rollback journal, 2 = WAL. */
  writeVersion: number
  readVersion: number
  /** Reserved bytes at the end of each page. */
  reservedBytes: number
  changeCounter: number
  freelistPages: number
}

/**
 * Parse the first 100 bytes of a database, or return a reason it is not one. Checks the magic,
 * the page size (1 means 65536) and the fixed payload fractions.
 */
export function parseSqliteHeader(h: Uint8Array): SqliteHeader | { error: string } {
  if (h.byteLength < SQLITE_HEADER_BYTES) return { error: `the file is ${h.byteLength} bytes, shorter than a SQLite header (100 bytes)` }
  for (let i = 0; i < SQLITE_MAGIC.length; i++) {
    if (h[i] !== SQLITE_MAGIC[i]) return { error: 'it does not start with the SQLite magic "SQLite format 3\\0"' }
  }
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength)
  const raw = dv.getUint16(16)
  const size = raw === 1 ? 65536 : raw
  if (!isPageSize(size)) return { error: `its header gives page size ${raw}, which SQLite never uses` }
  if (h[21] !== 64 || h[22] !== 32 || h[23] !== 32) return { error: 'its header has invalid payload fractions (bytes 21–23)' }
  const changeCounter = dv.getUint32(24)
  const inHeader = dv.getUint32(28)
  const validFor = dv.getUint32(92)
  return {
    pageSize: pageSize(size),
    headerPageCount: inHeader !== 0 && changeCounter === validFor ? pageCount(inHeader) : null,
    writeVersion: h[18]!,
    readVersion: h[19]!,
    reservedBytes: h[20]!,
    changeCounter,
    freelistPages: dv.getUint32(36),
  }
}
