import { InvalidArgumentError } from '../../errors/index.js'
import type { PageNo } from '../../format/page.js'
import { locatePage, type Target } from './chain.js'
import type { RepoContext } from './context.js'
import { fetchPages } from './page-fetcher.js'

/**
 * Read page `p` of a resolved branch or snapshot, verified against its hash. The lock-byte page
 * reads as zeros. A page past the page count is an `InvalidArgumentError`; a page the chain
 * lacks is `MissingPageError`; a damaged page is `CorruptPageError`.
 */
export async function readPage(ctx: RepoContext, target: Target, p: number): Promise<Uint8Array> {
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  if (!Number.isInteger(p) || p < 1 || p > t.pageCount) {
    throw new InvalidArgumentError({ argument: 'page number', reason: `${p} is outside 1…${t.pageCount}` })
  }
  if (!locatePage(t, p as PageNo)) return new Uint8Array(t.pageSize)
  let out: Uint8Array | null = null
  await fetchPages(t, (_, page) => void (out = new Uint8Array(page)), { concurrency: 1, maxRunBytes: t.pageSize }, [p as PageNo])
  return out!
}
