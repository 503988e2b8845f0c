import { PAGE_HASH_BYTES, fromHex } from '../../format/hash.js'
import type { SegmentId } from '../../format/ids.js'
import type { SegmentRef } from '../../format/manifest.js'
import { validateName } from '../../format/names.js'
import { lockBytePage, type PageNo } from '../../format/page.js'
import { buildPageTable, type PageTable } from '../../format/page-table.js'
import type { CommitResult } from './commit.js'
import { streamPages } from '../read/export-snapshot.js'
import { LOCK_PAGE_LEVEL, type ResolvedTable } from '../read/chain.js'
import type { OperationOptions } from '../read/progress.js'
import { requireRef } from '../branches/refs.js'
import { SegmentWriter, copyPages } from './segment-writer.js'
import { type RepoContext } from '../read/context.js'
import { publishSnapshot } from './publish-snapshot.js'
import { commitResult } from './commit.js'

/** Options for materialize. */
export interface MaterializeOptions extends OperationOptions {
  message?: string
  author?: string
  /**
   * Copy every page into fresh, contiguous segments instead of referencing the segments of this
   * store that already hold them. Default false. The copy shares no segment with the commits it
   * flattens (only a run of pages identical to an existing segment is that segment, as content
   * addressing makes it): use it before deleting the branches it was stacked on when their space
   * must come back at the next gc (a by-reference snapshot keeps the segments it reads alive), or
   * to lay a head out contiguously once. It costs a read and a write of the whole database.
   */
  copy?: boolean
}

/** What materialize did. */
export interface MaterializeResult extends CommitResult {
  /** `reference`: the new page table points at existing segments; `copy`: every page was rewritten. */
  mode: 'reference' | 'copy'
  /** Pages the new snapshot reads from segments that were already in this store. */
  pagesReferenced: number
  /** Distinct existing segments the new snapshot references. */
  segmentsReferenced: number
}

/**
 * Flatten a branch: move it to a new snapshot with no fallback, which is also its new base, so
 * that it depends on no ancestor (and, for cross-store chains, on no other store).
 *
 * By reference (the default) the new manifest's page table lists every page of the head with the
 * segment and slot of this store that already hold it, and its recorded hash: no page of this
 * store is read or written, so the cost is the page table, not the database. Only pages that a
 * cross-store level serves are fetched (verified) and copied into this store. The whole-database
 * checksum is the head's. With `copy`, every
 * page is read down the chain, verified and written into fresh segments, as a copy that shares
 * nothing.
 *
 * A concurrent commit makes the final compare-and-swap fail with `ConflictError`. The referenced
 * segments are kept alive by the head being flattened until the ref moves, and by the new
 * snapshot after (gc keeps a segment while any kept manifest references it).
 */
export async function materialize(ctx: RepoContext, branch: string, opts: MaterializeOptions): Promise<MaterializeResult> {
  validateName(branch)
  const startedAt = ctx.now().getTime()
  const current = await requireRef(ctx.store, branch)
  const t = await ctx.chains.resolve(current.ref.head, { branch: branch })
  const writer = new SegmentWriter(ctx.store, t.pageSize, {
    segmentBytes: ctx.settings.segmentBytes,
    concurrency: Math.max(2, Math.ceil(ctx.settings.concurrency / 2)),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  const laid = opts.copy ? await copyAll(ctx, t, branch, writer, opts) : await referenceTable(ctx, t, writer, opts)
  const published = await publishSnapshot(ctx, {
    startedAt,
    branch: current,
    manifest: {
      pageSize: t.pageSize,
      pageCount: t.pageCount,
      fallback: null,
      message: opts.message ?? `materialize ${branch}`,
      author: opts.author,
      tags: [],
      operation: 'materialize',
      checksum: laid.checksum,
      segments: laid.segments,
      pages: laid.pages,
    },
    base: 'self',
  })
  const copied = writer.entries.length
  return {
    ...commitResult(published, { pageCount: t.pageCount, ownPages: laid.pages.pageNos.length, pagesUploaded: copied, bytesWritten: writer.bytesWritten }),
    mode: opts.copy ? 'copy' : 'reference',
    pagesReferenced: laid.pages.pageNos.length - copied,
    segmentsReferenced: laid.referenced,
  }
}

/** A flattened page table: its segment list, its pages and the checksum they add up to. */
interface Layout {
  segments: SegmentRef[]
  pages: PageTable
  checksum: Uint8Array
  /** Segments that were already in this store before materialize. */
  referenced: number
}

/** Today's flattening: every page read down the chain (verified) and written into fresh segments. */
async function copyAll(ctx: RepoContext, t: ResolvedTable, branch: string, writer: SegmentWriter, opts: OperationOptions): Promise<Layout> {
  const checksum = await streamPages(ctx, t, { snapshot: t.snapshot, branch }, 'materialize', (p, page, hash) => writer.add(p, page, hash), opts).catch(async (e: unknown) => {
    // A failed read must not leave uploads running after materialize has failed.
    await writer.settle()
    throw e
  })
  const written = await writer.finish()
  return { segments: written.segments, pages: buildPageTable(written.entries), checksum: fromHex(checksum), referenced: 0 }
}

/**
 * The head's resolved table as one level: each page at the segment and slot of this store that
 * serves it today, its hash carried over, and pages of other stores copied through `writer`
 * (verified on the way). The columns are filled in page order, so no sort and no per-page object.
 * The checksum is the head's: the table lists exactly the head's pages with the head's hashes,
 * each verified when it was stored (and by `verify --deep` since).
 */
async function referenceTable(ctx: RepoContext, t: ResolvedTable, writer: SegmentWriter, opts: OperationOptions): Promise<Layout> {
  const segments: SegmentRef[] = []
  const index = new Map<SegmentId, number>()
  const indexOf = (seg: SegmentRef): number => {
    let idx = index.get(seg.id)
    if (idx === undefined) {
      idx = segments.length
      segments.push(seg)
      index.set(seg.id, idx)
    } else if (!segments[idx]!.runs && seg.runs) {
      // The same bytes named by an older manifest without run checksums and a newer one with them.
      segments[idx] = seg
    }
    return idx
  }
  const lock = lockBytePage(t.pageSize)
  const n = lock <= t.pageCount ? t.pageCount - 1 : t.pageCount
  const pages = { pageNos: new Uint32Array(n), segments: new Uint32Array(n), slots: new Uint32Array(n), hashes: new Uint8Array(n * PAGE_HASH_BYTES) }
  const foreign: PageNo[] = []
  const foreignRow = new Map<number, number>()
  // Per level: whether another store serves it, and its segment indexes translated into the new
  // list (filled on first use).
  const away = t.levels.map((l) => l.store.id !== ctx.storeId)
  const remap = t.levels.map((l) => new Int32Array(l.manifest.segments.length).fill(-1))
  const hashes = pages.hashes
  let row = 0
  for (let p = 1 as PageNo; p <= t.pageCount; p++) {
    const li = t.level[p - 1]!
    if (li === LOCK_PAGE_LEVEL) continue
    pages.pageNos[row] = p
    if (away[li]) {
      foreign.push(p)
      foreignRow.set(p, row++)
      continue
    }
    const level = t.levels[li]!
    const e = t.entry[p - 1]!
    const own = level.manifest.pages
    const s = own.segments[e]!
    let idx = remap[li]![s]!
    if (idx < 0) idx = remap[li]![s] = indexOf(level.manifest.segments[s]!)
    pages.segments[row] = idx
    pages.slots[row] = own.slots[e]!
    const from = own.hashes
    for (let i = 0, src = e * PAGE_HASH_BYTES, dst = row * PAGE_HASH_BYTES; i < PAGE_HASH_BYTES; i++) hashes[dst + i] = from[src + i]!
    row++
  }
  const referenced = segments.length
  if (foreign.length > 0) await copyPages(ctx, t, foreign, writer, 'fetch', opts)
  const written = await writer.finish()
  // Content addressing can name a copied segment like one already referenced: list it once.
  const copiedAt = written.segments.map(indexOf)
  for (const w of written.entries) {
    const r = foreignRow.get(w.pageNo)!
    pages.segments[r] = copiedAt[w.segment]!
    pages.slots[r] = w.slot
    pages.hashes.set(w.hash.subarray(0, PAGE_HASH_BYTES), r * PAGE_HASH_BYTES)
  }
  return { segments, pages, checksum: t.levels[0]!.manifest.checksum, referenced }
}
