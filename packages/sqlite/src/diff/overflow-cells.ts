import { PAGE_INTERIOR_INDEX, cellPayload, childrenOf, isInterior, parseBtreePage, u32, type BtreePage } from './btree-page.js'
import type { BtreeRoot } from './changed-owners.js'
import type { PageSource } from './page-source.js'

/** The cell whose overflow chain holds a page. */
export interface OverflowCell {
  root: BtreeRoot
  page: Uint8Array
  bp: BtreePage
  cell: number
}

/** Leaves read per batch while looking for a chain's cell. */
const LEAF_BATCH = 8

/**
 * Find the cells whose overflow chains hold `targets` (pages no b-tree search reaches), looking
 * through the b-trees of `trees` in that order: each tree's interior pages first, then its leaves
 * nearest below a target first (SQLite allocates a cell's overflow pages after its page, so the
 * owner is usually just below). A cell is a candidate when a target lies within as many pages
 * after its first overflow page as its chain is long; its chain is then followed to confirm.
 * Stops once every target is found or `budget` pages were read; targets not found are left out
 * of the answer (their owner then needs a whole-database walk).
 */
export async function overflowCells(source: PageSource, trees: readonly BtreeRoot[], targets: readonly number[], usable: number, budget: number): Promise<Map<number, OverflowCell>> {
  const want = new Set(targets)
  const found = new Map<number, OverflowCell>()
  let read = 0
  const load = async (pages: readonly number[]): Promise<void> => {
    read += pages.filter((p) => p >= 1 && p <= source.pageCount && !source.page(p)).length
    await source.load(pages)
  }
  const tree = (p: number): { page: Uint8Array; bp: BtreePage } | null => {
    const page = source.page(p)
    const bp = page ? parseBtreePage(p, page) : null
    return page && bp ? { page, bp } : null
  }
  const scan = async (root: BtreeRoot, page: Uint8Array, bp: BtreePage): Promise<void> => {
    if (isInterior(bp) && bp.type !== PAGE_INTERIOR_INDEX) return
    for (let i = 0; i < bp.cells.length && want.size > 0; i++) {
      const c = cellPayload(page, bp, i, usable)
      if (c.overflow === 0) continue
      const length = Math.ceil((c.size - (c.localEnd - c.payloadAt)) / (usable - 4))
      if ([...want].some((t) => t >= c.overflow && t < c.overflow + length)) await followChain(c.overflow, length, root, page, bp, i)
    }
  }
  // The chain's pages are usually consecutive: read them as one batch (within the budget), then follow the links.
  const followChain = async (first: number, length: number, root: BtreeRoot, page: Uint8Array, bp: BtreePage, cell: number): Promise<void> => {
    await load(Array.from({ length: Math.max(1, Math.min(length, budget - read)) }, (_, k) => first + k))
    for (let p = first, k = 0; p !== 0 && k < length && read <= budget; k++) {
      if (want.delete(p)) found.set(p, { root, page, bp, cell })
      if (want.size === 0) return
      await load([p])
      const o = source.page(p)
      if (!o) break
      p = u32(o, 0)
    }
  }
  for (const root of trees) {
    if (want.size === 0 || read >= budget) break
    let level = [root.rootpage]
    let leaves: number[] = []
    while (level.length > 0 && read < budget) {
      await load(level)
      const children: number[] = []
      for (const p of level) {
        const t = tree(p)
        if (!t) continue
        if (!isInterior(t.bp)) leaves.push(p)
        else {
          await scan(root, t.page, t.bp)
          children.push(...childrenOf(t.page, t.bp))
        }
      }
      if (children.length === 0) break
      // Every child of one level is at the same height: read one to know whether they are leaves.
      await load([children[0]!])
      const probe = tree(children[0]!)
      if (probe && isInterior(probe.bp)) level = children
      else {
        leaves = children
        break
      }
    }
    const below = (leaf: number): number => Math.min(...[...want].map((t) => (leaf <= t ? t - leaf : source.pageCount + leaf - t)))
    leaves.sort((a, b) => below(a) - below(b))
    for (let at = 0; at < leaves.length && want.size > 0 && read < budget; at += LEAF_BATCH) {
      const batch = leaves.slice(at, at + LEAF_BATCH)
      await load(batch)
      for (const p of batch) {
        const t = tree(p)
        if (t && !isInterior(t.bp)) await scan(root, t.page, t.bp)
      }
    }
  }
  return found
}
