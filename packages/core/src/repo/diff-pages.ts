import type { PageNo } from '../format/page.js'
import { hashAtEqual } from '../format/hash.js'
import { pageHashOf, type ResolvedTable } from './chain.js'
import type { Repository, Target } from './repository.js'

/** Which pages differ between two snapshots. */
export interface PageDiff {
  a: Target & { pageCount: number }
  b: Target & { pageCount: number }
  pageSize: number
  /** Pages present in both whose content differs, ascending. */
  changed: PageNo[]
  /** Pages past `a`'s end that `b` has. */
  added: PageNo[]
  /** Pages past `b`'s end that `a` had. */
  removed: PageNo[]
}

/**
 * Compare two branches or snapshots page by page using only their page tables: the recorded
 * hashes say which pages differ, so no page is downloaded — manifests only (and the levels two
 * chains share are fetched once, from cache).
 */
export async function diffPages(repo: Repository, aSpec: string, bSpec: string): Promise<PageDiff> {
  const [a, b] = await Promise.all([repo.resolveTarget(aSpec), repo.resolveTarget(bSpec)])
  const [ta, tb] = [await repo.resolve(a.snapshot, a.branch), await repo.resolve(b.snapshot, b.branch)]
  return { a: { ...a, pageCount: ta.pageCount }, b: { ...b, pageCount: tb.pageCount }, pageSize: ta.pageSize, ...comparePageTables(ta, tb) }
}

/** The changed, added and removed pages between two resolved tables. */
export function comparePageTables(ta: ResolvedTable, tb: ResolvedTable): Pick<PageDiff, 'changed' | 'added' | 'removed'> {
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
