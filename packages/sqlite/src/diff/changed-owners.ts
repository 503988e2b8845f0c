import { FREELIST_OWNER, OTHER_OWNER, type OwnerType, type PageOwners } from './page-owners.js'
import { MAX_ROWID, MIN_ROWID, cellPayload, childOf, childrenOf, freelistHeader, isInterior, isTableTree, parseBtreePage, rowidOf, u32, type BtreePage } from './btree-page.js'
import type { PageSource } from './page-source.js'
import { overflowCells } from './overflow-cells.js'
import { indexCellKey, type KeyValue, type TextEncoding } from './record-key.js'

/** One b-tree of a database: a table or index with its root page (`sqlite_schema` is root 1). */
export interface BtreeRoot {
  name: string
  type: 'table' | 'index'
  rootpage: number
  /** A WITHOUT ROWID table: its b-tree is an index b-tree keyed by the primary key. */
  withoutRowid: boolean
  /** A WITHOUT ROWID table: how many primary-key columns start each record of its b-tree. */
  keyColumns?: number
}

/** A run of primary keys of a WITHOUT ROWID table in b-tree order, both ends inclusive; null: unbounded. */
export interface KeyRange {
  from: KeyValue[] | null
  to: KeyValue[] | null
}

/** A run of rowids, both ends inclusive. */
export interface RowidRange {
  from: bigint
  to: bigint
}

/** The owners of some pages of one side, found by walking only the b-tree paths that lead to them. */
export interface ChangedOwners {
  /** Owners of the pages asked about (other pages read as {@link OTHER_OWNER}). */
  owners: PageOwners
  /**
   * Per rowid table (by name): the rowids the leaves asked about hold, and the rowids the
   * interior pages asked about send to a different child than the other side's copy does (all
   * they cover, without the other side). With both sides' ranges together: every row that can
   * differ. Sorted, disjoint.
   */
  ranges: Map<string, RowidRange[]>
  /**
   * Per WITHOUT ROWID table (by name): the primary keys its differing leaves hold (first to last
   * cell) and those its differing interior pages cover (between the separators around them).
   * Unmerged: comparing keys needs the columns' collations.
   */
  keyRanges: Map<string, KeyRange[]>
  /** WITHOUT ROWID tables whose differing pages yield no key range, and why. */
  keyFailures: Map<string, string>
  /**
   * Pages asked about that are in no b-tree's search path, not on the freelist, and not an
   * overflow page of a table the overflow search (see `overflowCells`) placed within its budget:
   * overflow pages of indexes or of cells it did not reach, pointer-map pages, or pages of an
   * index b-tree this walk could not place. Their owner needs a whole-database walk (`dbstat`).
   */
  unresolved: number[]
}

/**
 * Find the owners of `pages` in the database `source` serves, whose b-trees are `roots`:
 * - a table b-tree page is found by searching each table tree for the page's first rowid (the
 *   tree whose root is nearest below the page first, then the others), reading only the interior
 *   pages on the way; the search also gives the rowid range the page covers — the separator keys
 *   around it — which is what {@link ChangedOwners.ranges} collects;
 * - an index b-tree page (an index, or a WITHOUT ROWID table) is found by walking the interior
 *   pages of the index trees, nearest root first, until every such page is placed;
 * - what is left is checked against the freelist (its trunk pages are read); the rest is taken
 *   for overflow pages and mapped to the row whose chain holds it (see `overflowCells`), which
 *   gives that row's key as a range; the rest is {@link ChangedOwners.unresolved}.
 * Reads the pages asked about, the interior pages of the paths walked, and the leaf after each
 * table leaf placed (a range scan over a leaf steps onto the next one); page 1 and the
 * freelist's trunks too when some page is left over.
 */
export async function changedOwners(source: PageSource, roots: readonly BtreeRoot[], pages: readonly number[], other: PageSource | null = null): Promise<ChangedOwners> {
  const names = [OTHER_OWNER, FREELIST_OWNER]
  const types: OwnerType[] = ['other', 'freelist']
  const number = new Map<string, number>()
  const owner = new Uint32Array(source.pageCount)
  const ownerNo = (r: BtreeRoot): number => {
    let n = number.get(r.name)
    if (n === undefined) {
      number.set(r.name, (n = names.length))
      names.push(r.name)
      types.push(r.type)
    }
    return n
  }
  const bounds = new Map<string, RowidRange[]>()
  const interiors: { p: number; name: string; lo: bigint; hi: bigint }[] = []
  const add = (name: string, lo: bigint, hi: bigint): void => {
    let list = bounds.get(name)
    if (!list) bounds.set(name, (list = []))
    // (lo, hi] as inclusive bounds.
    list.push({ from: lo === MIN_ROWID ? MIN_ROWID : lo + 1n, to: hi })
  }
  const place = (p: number, r: BtreeRoot, lo: bigint, hi: bigint, tableTree: boolean): void => {
    owner[p - 1] = ownerNo(r)
    if (!tableTree || r.type !== 'table') return
    const bp = parsed(source, p)
    if (bp && !isInterior(bp)) {
      // A leaf: the rowids it holds on this side. A row it lacks here but holds on the other
      // side is covered by the other side's copy of this page, or by a differing interior page
      // above it that sends that rowid elsewhere.
      if (bp.cells.length > 0) add(r.name, rowidOf(source.page(p)!, bp, 0) - 1n, rowidOf(source.page(p)!, bp, bp.cells.length - 1))
    } else if (other && bp && p <= other.pageCount) interiors.push({ p, name: r.name, lo, hi })
    else add(r.name, lo, hi)
  }

  const wanted = pages.filter((p) => p >= 1 && p <= source.pageCount)
  await source.load(wanted)
  const rootAt = new Map(roots.map((r) => [r.rootpage, r]))
  const tableRoots = roots.filter((r) => r.type === 'table' && !r.withoutRowid)
  const indexRoots = roots.filter((r) => r.type === 'index' || r.withoutRowid)

  const rootKeys: BtreeRoot[] = []
  const tableTargets = new Map<number, bigint>()
  const indexTargets = new Set<number>()
  const left = new Set<number>()
  for (const p of wanted) {
    const root = rootAt.get(p)
    const bp = parsed(source, p)
    if (root && bp) {
      place(p, root, MIN_ROWID, MAX_ROWID, isTableTree(bp))
      // A WITHOUT ROWID table's root: its keys once the walk's helpers are there.
      if (root.withoutRowid && !isTableTree(bp)) rootKeys.push(root)
      continue
    }
    if (!bp || bp.cells.length === 0) left.add(p)
    else if (isTableTree(bp)) tableTargets.set(p, rowidOf(source.page(p)!, bp, 0))
    else indexTargets.add(p)
  }

  const followers: number[] = []
  // Table trees: search for each page's first rowid, one candidate tree per round, all pages of a round at once.
  const tried = new Map<number, Set<string>>()
  const hits = new Map<string, number>()
  while (tableTargets.size > 0) {
    const cursors: { target: number; key: bigint; root: BtreeRoot; at: number; lo: bigint; hi: bigint }[] = []
    for (const [target, key] of tableTargets) {
      const done = tried.get(target) ?? new Set<string>()
      tried.set(target, done)
      const next = nearestFirst(tableRoots, target, hits).find((r) => !done.has(r.name))
      if (!next) {
        tableTargets.delete(target)
        left.add(target)
        continue
      }
      done.add(next.name)
      cursors.push({ target, key, root: next, at: next.rootpage, lo: MIN_ROWID, hi: MAX_ROWID })
    }
    let live = cursors
    for (let depth = 0; live.length > 0 && depth < 64; depth++) {
      await source.load(live.map((c) => c.at))
      const next: typeof live = []
      for (const c of live) {
        const page = source.page(c.at)
        const bp = page ? parseBtreePage(c.at, page) : null
        if (!page || !bp || !isInterior(bp) || !isTableTree(bp)) continue
        let i = 0
        while (i < bp.cells.length && c.key > rowidOf(page, bp, i)) i++
        const child = i < bp.cells.length ? childOf(page, bp, i) : bp.rightChild
        const lo = i > 0 ? rowidOf(page, bp, i - 1) : c.lo
        const hi = i < bp.cells.length ? rowidOf(page, bp, i) : c.hi
        if (child === c.target) {
          place(c.target, c.root, lo, hi, true)
          // A range scan over this leaf's rows ends by stepping onto the next leaf: fetch it with the rest.
          if (i < bp.cells.length) followers.push(i + 1 < bp.cells.length ? childOf(page, bp, i + 1) : bp.rightChild)
          tableTargets.delete(c.target)
          hits.set(c.root.name, (hits.get(c.root.name) ?? 0) + 1)
        } else next.push({ ...c, at: child, lo, hi })
      }
      live = next
    }
  }

  await source.load(followers)

  // Index trees: walk interior levels, nearest root first, until every index page is placed;
  // a WITHOUT ROWID table's walk keeps, per page, the separators around it (its key bounds).
  const keyRanges = new Map<string, KeyRange[]>()
  const keyFailures = new Map<string, string>()
  let format: { usable: number; encoding: TextEncoding } | null = null
  const fileFormat = async (): Promise<{ usable: number; encoding: TextEncoding }> => {
    if (!format) {
      await source.load([1])
      const h = source.page(1)!
      const enc = u32(h, 56)
      format = { usable: source.pageSize - h[20]!, encoding: (enc === 2 || enc === 3 ? enc : 1) as TextEncoding }
    }
    return format
  }
  const keyAt = async (page: Uint8Array, bp: BtreePage, i: number, r: BtreeRoot): Promise<KeyValue[] | null> => {
    const { usable, encoding } = await fileFormat()
    const key = indexCellKey(page, bp, i, r.keyColumns!, usable, encoding)
    if (typeof key === 'string') {
      keyFailures.set(r.name, key)
      return null
    }
    return key
  }
  const addKeys = (r: BtreeRoot, range: KeyRange): void => {
    let list = keyRanges.get(r.name)
    if (!list) keyRanges.set(r.name, (list = []))
    list.push(range)
  }
  type Bound = { page: Uint8Array; bp: BtreePage; i: number } | null
  const placeIndex = async (p: number, r: BtreeRoot, lo: Bound, hi: Bound): Promise<void> => {
    place(p, r, MIN_ROWID, MAX_ROWID, false)
    if (!r.withoutRowid || r.keyColumns === undefined) return
    const page = source.page(p)
    const bp = page ? parseBtreePage(p, page) : null
    if (!page || !bp) return
    if (!isInterior(bp)) {
      if (bp.cells.length === 0) return
      const from = await keyAt(page, bp, 0, r)
      const to = await keyAt(page, bp, bp.cells.length - 1, r)
      if (from && to) addKeys(r, { from, to })
      return
    }
    // An interior page with the same children on the other side: both trees hold the same
    // pages below it, so only the rows in the separator cells that differ can differ (the
    // other side's walk adds its own separators). Otherwise every key it can send anywhere.
    if (other && p <= other.pageCount) {
      await other.load([p])
      const theirs = other.page(p)
      const tp = theirs ? parseBtreePage(p, theirs) : null
      if (theirs && tp && tp.type === bp.type && sameChildren(page, bp, theirs, tp)) {
        const usable = (await fileFormat()).usable
        for (let i = 0; i < bp.cells.length; i++) {
          const mine = cellPayload(page, bp, i, usable)
          const their = cellPayload(theirs, tp, i, usable)
          if (sameBytes(page.subarray(bp.cells[i]!, mine.cellEnd), theirs.subarray(tp.cells[i]!, their.cellEnd))) continue
          const key = await keyAt(page, bp, i, r)
          if (key) addKeys(r, { from: key, to: key })
        }
        return
      }
    }
    const from = lo ? await keyAt(lo.page, lo.bp, lo.i, r) : null
    const to = hi ? await keyAt(hi.page, hi.bp, hi.i, r) : null
    if ((lo && !from) || (hi && !to)) return
    addKeys(r, { from, to })
  }
  for (const r of rootKeys) await placeIndex(r.rootpage, r, null, null)
  for (const r of nearestFirst(indexRoots, indexTargets.size ? Math.min(...indexTargets) : 0, hits)) {
    if (indexTargets.size === 0) break
    let level: { p: number; lo: Bound; hi: Bound }[] = [{ p: r.rootpage, lo: null, hi: null }]
    for (let depth = 0; level.length > 0 && indexTargets.size > 0 && depth < 64; depth++) {
      await source.load(level.map((l) => l.p))
      const children: typeof level = []
      for (const { p, lo, hi } of level) {
        const page = source.page(p)
        const bp = page ? parseBtreePage(p, page) : null
        if (!page || !bp || !isInterior(bp)) continue
        const kids = childrenOf(page, bp)
        for (let i = 0; i < kids.length; i++) {
          const c = kids[i]!
          const cLo = i > 0 ? { page, bp, i: i - 1 } : lo
          const cHi = i < bp.cells.length ? { page, bp, i } : hi
          if (indexTargets.delete(c)) await placeIndex(c, r, cLo, cHi)
          children.push({ p: c, lo: cLo, hi: cHi })
        }
      }
      // Every child of one level is at the same height: read one to know whether they are leaves.
      if (children.length === 0) break
      await source.load([children[0]!.p])
      const probe = source.page(children[0]!.p)
      const probed = probe ? parseBtreePage(children[0]!.p, probe) : null
      level = probed && isInterior(probed) ? children : []
    }
  }
  for (const p of indexTargets) left.add(p)

  let unresolved: number[] = []
  if (left.size > 0) {
    const free = await freelist(source)
    for (const p of left) {
      if (free.has(p)) owner[p - 1] = 1
      else unresolved.push(p)
    }
  }
  // Overflow pages: the row whose chain holds one is what can differ (a blob rewritten in place
  // changes only its overflow pages).
  if (unresolved.length > 0) {
    const tables = nearestFirst([...tableRoots.filter((r) => r.name !== 'sqlite_schema'), ...indexRoots.filter((r) => r.withoutRowid && r.keyColumns !== undefined)], Math.min(...unresolved), hits)
    const cells = await overflowCells(source, tables, unresolved, (await fileFormat()).usable, Math.max(OVERFLOW_BUDGET, Math.ceil(source.pageCount / 16)))
    for (const [p, c] of cells) {
      owner[p - 1] = ownerNo(c.root)
      if (!c.root.withoutRowid) {
        const rowid = rowidOf(c.page, c.bp, c.cell)
        add(c.root.name, rowid - 1n, rowid)
      } else {
        const key = await keyAt(c.page, c.bp, c.cell, c.root)
        if (key) addKeys(c.root, { from: key, to: key })
      }
    }
    unresolved = unresolved.filter((p) => !cells.has(p))
  }
  // A differing interior page: only the keys it sends to a different child on the two sides.
  if (other && interiors.length > 0) {
    await other.load(interiors.map((i) => i.p))
    for (const { p, name, lo, hi } of interiors) {
      const theirs = other.page(p)
      const tp = theirs ? parseBtreePage(p, theirs) : null
      if (!theirs || !tp || !isInterior(tp) || !isTableTree(tp)) add(name, lo, hi)
      else for (const [from, to] of differingChildren(source.page(p)!, parsed(source, p)!, theirs, tp)) if (to > lo && from < hi) add(name, from > lo ? from : lo, to < hi ? to : hi)
    }
  }
  const ranges = new Map<string, RowidRange[]>()
  for (const [name, list] of bounds) ranges.set(name, mergeRanges(list))
  return { owners: { pageCount: source.pageCount, names, types, owner }, ranges, keyRanges, keyFailures, unresolved: unresolved.sort((a, b) => a - b) }
}

/**
 * The key intervals `(from, to]` that two versions of one interior table page send to different
 * children: the separators of both cut the key space into intervals each version maps to one
 * child; an interval is kept where the children differ.
 */
function differingChildren(a: Uint8Array, pa: BtreePage, b: Uint8Array, pb: BtreePage): [bigint, bigint][] {
  const seps = (page: Uint8Array, p: BtreePage): bigint[] => p.cells.map((_, i) => rowidOf(page, p, i))
  const sa = seps(a, pa)
  const sb = seps(b, pb)
  const childFor = (page: Uint8Array, p: BtreePage, s: readonly bigint[], k: bigint): number => {
    let i = 0
    while (i < s.length && k > s[i]!) i++
    return i < s.length ? childOf(page, p, i) : p.rightChild
  }
  const cuts = [...new Set([...sa, ...sb])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
  const out: [bigint, bigint][] = []
  let from = MIN_ROWID
  for (const to of [...cuts, MAX_ROWID]) {
    if (to > from || (from === MIN_ROWID && to === MIN_ROWID)) {
      if (childFor(a, pa, sa, to) !== childFor(b, pb, sb, to)) out.push([from, to])
    }
    from = to
  }
  return out
}

/**
 * Pages the search for overflow pages' rows may read per side, at least (a sixteenth of the
 * database when that is more): past it, the rest are left to a whole-database walk.
 */
const OVERFLOW_BUDGET = 64

/** Whether two interior pages have the same child pointers in the same order. */
function sameChildren(a: Uint8Array, pa: BtreePage, b: Uint8Array, pb: BtreePage): boolean {
  if (pa.cells.length !== pb.cells.length) return false
  const ca = childrenOf(a, pa)
  const cb = childrenOf(b, pb)
  return ca.every((c, i) => c === cb[i])
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Sorted, overlapping or touching ranges joined. */
export function mergeRanges(list: readonly RowidRange[]): RowidRange[] {
  const sorted = [...list].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
  const out: RowidRange[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last && r.from <= last.to + 1n) {
      if (r.to > last.to) last.to = r.to
    } else out.push({ ...r })
  }
  return out
}

/** Trees that owned pages first (most first), then by how near below `page` the root is. */
function nearestFirst(roots: readonly BtreeRoot[], page: number, hits: ReadonlyMap<string, number>): BtreeRoot[] {
  const distance = (r: BtreeRoot): number => (r.rootpage <= page ? page - r.rootpage : Number.MAX_SAFE_INTEGER - r.rootpage)
  return [...roots].sort((a, b) => (hits.get(b.name) ?? 0) - (hits.get(a.name) ?? 0) || distance(a) - distance(b))
}

function parsed(source: PageSource, p: number): BtreePage | null {
  const page = source.page(p)
  return page ? parseBtreePage(p, page) : null
}

/** The freelist's pages (trunks and leaves), reading its trunk pages. A chain that loops or runs out of range stops there. */
export async function freelist(source: PageSource): Promise<Set<number>> {
  await source.load([1])
  const { freelistTrunk, freelistCount } = freelistHeader(source.page(1)!)
  const out = new Set<number>()
  let trunk = freelistTrunk
  while (trunk >= 1 && trunk <= source.pageCount && !out.has(trunk) && out.size < freelistCount) {
    out.add(trunk)
    await source.load([trunk])
    const page = source.page(trunk)
    if (!page) break
    const n = u32(page, 4)
    for (let i = 0; i < n && 8 + 4 * i + 4 <= page.length; i++) {
      const leaf = u32(page, 8 + 4 * i)
      if (leaf >= 1 && leaf <= source.pageCount) out.add(leaf)
    }
    trunk = u32(page, 0)
  }
  return out
}
