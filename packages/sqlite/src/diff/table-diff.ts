import type { PageDiff } from '@strata/core'
import type { OwnerType, PageOwners } from './page-owners.js'

/** The differing pages one table, index or structure owns. */
export interface TableDiff {
  /** Table or index name, `sqlite_schema` for the schema's b-tree, `(freelist)` or `(other)`. */
  name: string
  type: OwnerType
  /** Pages it owns on both sides whose bytes differ. */
  changed: number
  /** Differing pages it owns only in `b` (new pages, or pages that moved to it from another owner). */
  added: number
  /** Differing pages it owned only in `a`. */
  removed: number
}

/**
 * Attribute every differing page (changed, added or removed in `pages`) to its owners: a page
 * both sides give to the same owner counts as `changed` for it; otherwise it is `removed` from
 * its owner in `a` and `added` to its owner in `b`. With different page sizes page numbers do not
 * line up, so every page of `a` counts as removed and every page of `b` as added. Sorted by pages
 * involved, most first, then by name.
 */
export function attributePages(pages: Pick<PageDiff, 'changed' | 'added' | 'removed'>, a: PageOwners, b: PageOwners, samePageSize: boolean): TableDiff[] {
  const out = new Map<string, TableDiff>()
  const entry = (o: PageOwners, n: number): TableDiff => {
    const name = o.names[n]!
    let d = out.get(name)
    if (!d) out.set(name, (d = { name, type: o.types[n]!, changed: 0, added: 0, removed: 0 }))
    return d
  }
  const visit = (p: number): void => {
    const na = p <= a.pageCount ? a.owner[p - 1]! : -1
    const nb = p <= b.pageCount ? b.owner[p - 1]! : -1
    if (na >= 0 && nb >= 0 && a.names[na] === b.names[nb]) {
      entry(a, na).changed++
      return
    }
    if (na >= 0) entry(a, na).removed++
    if (nb >= 0) entry(b, nb).added++
  }
  if (samePageSize) {
    for (const p of pages.changed) visit(p)
    for (const p of pages.added) visit(p)
    for (const p of pages.removed) visit(p)
  } else {
    for (let p = 1; p <= a.pageCount; p++) entry(a, a.owner[p - 1]!).removed++
    for (let p = 1; p <= b.pageCount; p++) entry(b, b.owner[p - 1]!).added++
  }
  return [...out.values()].sort((x, y) => y.changed + y.added + y.removed - (x.changed + x.added + x.removed) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
}
