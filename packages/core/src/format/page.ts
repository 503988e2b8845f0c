/** A 1-based page number, as SQLite counts pages. Page 1 holds the database header. */
export type PageNo = number & { readonly __brand: 'PageNo' }

/** A number of pages (a database's size in pages). Not a page number. */
export type PageCount = number & { readonly __brand: 'PageCount' }

/** A page size in bytes: a power of two from 512 to 65536. */
export type PageSize = number & { readonly __brand: 'PageSize' }

/** The largest page number SQLite allows. */
export const MAX_PAGE_NO = 0xfffffffe

/** Brand `n` as a page count; throws on anything but an integer in 0…2^32-2. */
export function pageCount(n: number): PageCount {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE_NO) throw new RangeError(`not a page count: ${n}`)
  return n as PageCount
}

/** True if `n` is a page size SQLite can use: a power of two from 512 to 65536. */
export function isPageSize(n: number): n is PageSize {
  return Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0
}

/** Brand `n` as a page size; throws unless {@link isPageSize}. */
export function pageSize(n: number): PageSize {
  if (!isPageSize(n)) throw new RangeError(`not a SQLite page size: ${n}`)
  return n
}

/**
 * The lock-byte page of a database with this page size: the page holding byte offsets
 * 2^30 … 2^30+511. SQLite never stores data there; Strata never stores it either, reads it as
 * zeros and leaves it out of checksums and deltas.
 */
export function lockBytePage(size: PageSize): PageNo {
  return (Math.floor(0x40000000 / size) + 1) as PageNo
}
