import { comparePageTables, type PageChanges } from '../read/compare-tables.js'
import type { Target } from '../read/chain.js'
import { type RepoContext } from '../read/context.js'
import { resolveTarget } from '../branches/resolve-target.js'

/** Which pages differ between two snapshots. */
export interface PageDiff extends PageChanges {
  a: Target & { pageCount: number }
  b: Target & { pageCount: number }
  pageSize: number
}

/**
 * Compare two branches or snapshots page by page using only their page tables: the recorded
 * hashes say which pages differ, so no page is downloaded — manifests only (and the levels two
 * chains share are fetched once, from cache).
 */
export async function diffPages(ctx: RepoContext, aSpec: string, bSpec: string): Promise<PageDiff> {
  const [a, b] = await Promise.all([resolveTarget(ctx, aSpec), resolveTarget(ctx, bSpec)])
  const [ta, tb] = [await ctx.chains.resolve(a.snapshot, { branch: a.branch }), await ctx.chains.resolve(b.snapshot, { branch: b.branch })]
  return { a: { ...a, pageCount: ta.pageCount }, b: { ...b, pageCount: tb.pageCount }, pageSize: ta.pageSize, ...comparePageTables(ta, tb) }
}
