import { hashAtEqual } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'
import { pageHashOf, type ResolvedTable } from './chain.js'

/** How two resolved tables differ, page by page. */
export interface PageChanges {
  /** Pages present in both whose content differs, ascending. */
  changed: PageNo[]
  /** Pages past the first table's end that the second has. */
  added: PageNo[]
  /** Pages past the second table's end that the first had. */
  removed: PageNo[]
}

/** The changed, added and removed pages between two resolved tables. */
export function comparePageTables(ta: ResolvedTable, tb: ResolvedTable): PageChanges {
  const changed: PageNo[] = []
  const added: PageNo[] = []
  const removed: PageNo[] = []
  const common = Math.min(ta.pageCount, tb.pageCount)
  const sameSize = ta.pageSize === tb.pageSize
  for (let p = 1 as PageNo; p <= common; p++) {
    const ha = pageHashOf(ta, p)
    const hb = pageHashOf(tb, p)
    if (!sameSize || (ha && hb && !hashAtEqual(ha, 0, hb, 0)) || (ha === null) !== (hb === null)) changed.push(p)
  }
  for (let p = common + 1; p <= tb.pageCount; p++) added.push(p as PageNo)
  for (let p = common + 1; p <= ta.pageCount; p++) removed.push(p as PageNo)
  return { changed, added, removed }
}
