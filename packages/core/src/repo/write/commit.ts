import { ConflictError, InvalidArgumentError } from '../../errors/index.js'
import { DatabaseChecksum, PAGE_HASH_BYTES, hashAtEqual, hashPage } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import { refKey } from '../../format/keys.js'
import { type MergeParents, type SegmentRef, type SnapshotManifest } from '../../format/manifest.js'
import { MAX_PAGE_NO, lockBytePage, type PageCount, type PageNo } from '../../format/page.js'
import { buildPageTable, type PageEntry } from '../../format/page-table.js'
import { validateName } from '../../format/names.js'
import { pageHashOf, type ResolvedTable } from '../read/chain.js'
import type { OperationOptions } from '../read/progress.js'
import { requireRef, type VersionedRef } from '../branches/refs.js'
import { SegmentWriter } from './segment-writer.js'
import { type RepoContext } from '../read/context.js'
import { publishSnapshot, type Published } from './publish-snapshot.js'

/** A commit's page writes: page number → page image (exactly one page size long). */
export type PageWrites = Iterable<readonly [number, Uint8Array]>

/** What to commit. */
export interface CommitOptions extends OperationOptions {
  /** Pages to write. Pages not named keep their content. */
  writes?: PageWrites
  /**
   * The database's new size in pages. Default: the head's page count, or the highest page
   * written if that is larger. Shrinking drops pages past the end; growing requires every new
   * page to be written.
   */
  pageCount?: number
  message?: string
  author?: string
  /** Labels recorded in the snapshot's history. */
  tags?: string[]
  /** Fail with `ConflictError` (before uploading anything) unless the branch head is this. */
  expectedHead?: SnapshotId
  /** Write a snapshot even if nothing changed. Default false. */
  allowEmpty?: boolean
  /** Recorded as the operation that produced the snapshot. Default `commit`. */
  operation?: string
  /** Recorded on a merge commit: the snapshot merged in and the merge base (see `MergeParents`). */
  merge?: MergeParents
}

/** What a commit did. */
export interface CommitResult {
  /** False when the writes changed nothing: no snapshot was written and the head stays. */
  changed: boolean
  /** The branch's head after the commit (the previous head when nothing changed). */
  snapshot: SnapshotId
  /** The head before the commit. */
  previous: SnapshotId
  branch: string
  pageCount: number
  /** Pages the new snapshot owns (its whole delta against the base). */
  ownPages: number
  /** Pages whose bytes this commit uploaded. */
  pagesUploaded: number
  /** Bytes uploaded: new segments plus the manifest. */
  bytesWritten: number
}

/** The {@link CommitResult} of a published snapshot; `bytesWritten` counts segments, the manifest is added. */
export function commitResult(published: Published, counts: Pick<CommitResult, 'pageCount' | 'ownPages' | 'pagesUploaded' | 'bytesWritten'>): CommitResult {
  return {
    changed: true,
    snapshot: published.snapshot,
    previous: published.previous!,
    branch: published.ref.name,
    ...counts,
    bytesWritten: counts.bytesWritten + published.manifestBytes,
  }
}

interface DeltaEntry {
  /** Bytes to upload, or null when the page is carried from the head's delta. */
  bytes: Uint8Array | null
  hash: Uint8Array
  /** For carried pages: the head's segment and slot. */
  carried?: { segment: SegmentRef; slot: number }
}

/**
 * Commit to `branchName`: the new snapshot holds every page that differs from the branch's base
 * (the head's delta, updated by `writes`) and falls back to the base — so every commit is a
 * fresh delta against the same base and chain depth never grows with commits. A page written
 * back to its base content leaves the delta. Order: new segments, manifest, then a CAS of the
 * ref; a lost race throws `ConflictError` and leaves only unreferenced objects behind.
 */
export async function commit(ctx: RepoContext, branchName: string, opts: CommitOptions): Promise<CommitResult> {
  validateName(branchName)
  const startedAt = ctx.now().getTime()
  const current = await requireRef(ctx.store, branchName)
  if (opts.expectedHead !== undefined && current.ref.head !== opts.expectedHead) {
    throw new ConflictError(
      { key: refKey(branchName), condition: 'if-match', branch: branchName, expected: opts.expectedHead },
      `branch "${branchName}" is at ${current.ref.head.slice(0, 12)}, not the expected ${opts.expectedHead.slice(0, 12)}: someone else committed; re-read and retry`,
    )
  }
  const head = await ctx.chains.manifest(current.ref.head, ctx.handle, `branch ${branchName}`)
  const baseTable = await ctx.chains.resolve(current.ref.base, { branch: branchName })
  const headOwnsDelta = current.ref.head !== current.ref.base
  const size = head.pageSize
  const lockPage = lockBytePage(size)

  // The head's delta, which this commit carries forward.
  const delta = new Map<number, DeltaEntry>()
  if (headOwnsDelta) {
    const t = head.pages
    for (let i = 0; i < t.pageNos.length; i++) {
      delta.set(t.pageNos[i]!, {
        bytes: null,
        hash: t.hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES),
        carried: { segment: head.segments[t.segments[i]!]!, slot: t.slots[i]! },
      })
    }
  }

  let maxWritten = 0
  const written = new Set<number>()
  for (const [p, page] of opts.writes ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > MAX_PAGE_NO) throw new InvalidArgumentError({ argument: 'page number', reason: `${p} is not a page number` })
    if (!(page instanceof Uint8Array) || page.byteLength !== size) {
      throw new InvalidArgumentError({ argument: `page ${p}`, reason: `is ${page?.byteLength} bytes; the page size is ${size}` })
    }
    if (p === lockPage) continue // SQLite never stores data in the lock-byte page.
    maxWritten = Math.max(maxWritten, p)
    written.add(p)
    const hash = hashPage(page)
    const baseHash = p <= baseTable.pageCount ? pageHashOf(baseTable, p as PageNo) : null
    if (baseHash && hashAtEqual(baseHash, 0, hash, 0)) delta.delete(p)
    else delta.set(p, { bytes: new Uint8Array(page), hash })
  }

  const pageCount = (opts.pageCount ?? Math.max(head.pageCount, maxWritten)) as PageCount
  if (!Number.isInteger(pageCount) || pageCount < 1 || pageCount > MAX_PAGE_NO) {
    throw new InvalidArgumentError({ argument: 'page count', reason: `${pageCount} is not a page count` })
  }
  if (maxWritten > pageCount) {
    throw new InvalidArgumentError({ argument: 'writes', reason: `page ${maxWritten} lies past the new page count ${pageCount}` })
  }
  for (let p = head.pageCount + 1; p <= pageCount; p++) {
    if (p !== lockPage && !written.has(p)) {
      throw new InvalidArgumentError({ argument: 'writes', reason: `the page count grows from ${head.pageCount} to ${pageCount}, but new page ${p} is not written` })
    }
  }
  for (const p of delta.keys()) if (p > pageCount) delta.delete(p)

  // Nothing changed: the delta and the size are the head's.
  if (!opts.allowEmpty && pageCount === head.pageCount && sameDelta(delta, head, headOwnsDelta)) {
    return { changed: false, snapshot: current.ref.head, previous: current.ref.head, branch: branchName, pageCount, ownPages: headOwnsDelta ? head.pages.pageNos.length : 0, pagesUploaded: 0, bytesWritten: 0 }
  }

  return writeSnapshot(ctx, current, baseTable, delta, pageCount, opts, startedAt)
}

/**
 * Upload the new pages of `delta`, then publish a manifest falling back to the ref's base.
 */
async function writeSnapshot(
  ctx: RepoContext,
  current: VersionedRef,
  baseTable: ResolvedTable,
  delta: Map<number, DeltaEntry>,
  pageCount: PageCount,
  opts: CommitOptions,
  /** When the commit began (repository-clock ms): a long one re-checks its objects before publishing. */
  startedAt: number,
): Promise<CommitResult> {
  const size = baseTable.pageSize
  const writer = new SegmentWriter(ctx.store, size, {
    segmentBytes: ctx.settings.segmentBytes,
    concurrency: ctx.settings.concurrency,
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  const fresh = [...delta.entries()].filter(([, e]) => e.bytes).sort((a, b) => a[0] - b[0])
  let uploaded = 0
  const written = await (async () => {
    for (const [p, e] of fresh) {
      await writer.add(p as PageNo, e.bytes!, e.hash)
      opts.onProgress?.({ phase: 'upload', loaded: ++uploaded, total: fresh.length })
    }
    return writer.finish()
  })().catch(async (e: unknown) => {
    await writer.settle()
    throw e
  })

  // Segment list: new segments, then each carried segment once.
  const segments: SegmentRef[] = [...written.segments]
  const carriedIndex = new Map<string, number>()
  const entries: PageEntry[] = [...written.entries]
  for (const [p, e] of delta) {
    if (!e.carried) continue
    let idx = carriedIndex.get(e.carried.segment.id)
    if (idx === undefined) {
      idx = segments.length
      segments.push(e.carried.segment)
      carriedIndex.set(e.carried.segment.id, idx)
    }
    entries.push({ pageNo: p as PageNo, segment: idx, slot: e.carried.slot, hash: e.hash })
  }

  const checksum = checksumFromBase(baseTable, delta, pageCount)
  const published = await publishSnapshot(ctx, {
    startedAt,
    branch: current,
    below: baseTable,
    manifest: {
      pageSize: size,
      pageCount,
      fallback: { snapshot: current.ref.base },
      message: opts.message ?? '',
      author: opts.author,
      tags: opts.tags ?? [],
      operation: opts.operation ?? 'commit',
      ...(opts.merge ? { merge: opts.merge } : {}),
      checksum: checksum.bytes,
      segments,
      pages: buildPageTable(entries),
    },
  })
  return commitResult(published, { pageCount, ownPages: entries.length, pagesUploaded: fresh.length, bytesWritten: writer.bytesWritten })
}

/**
 * The checksum of base-with-delta at `pageCount`, from the base's checksum and the hashes the
 * tables hold: O(delta + truncated pages), never reading a page.
 */
function checksumFromBase(base: ResolvedTable, delta: Map<number, DeltaEntry>, pageCount: number): DatabaseChecksum {
  const sum = DatabaseChecksum.from(base.levels[0]!.manifest.checksum)
  for (let p = pageCount + 1; p <= base.pageCount; p++) {
    if (delta.has(p)) continue
    const h = pageHashOf(base, p as PageNo)
    if (h) sum.toggle(p as PageNo, h)
  }
  for (const [p, e] of delta) {
    if (p <= base.pageCount) {
      const h = pageHashOf(base, p as PageNo)
      if (h) sum.toggle(p as PageNo, h)
    }
    sum.toggle(p as PageNo, e.hash)
  }
  return sum
}

function sameDelta(delta: Map<number, DeltaEntry>, head: SnapshotManifest, headOwnsDelta: boolean): boolean {
  const t = head.pages
  const n = headOwnsDelta ? t.pageNos.length : 0
  if (delta.size !== n) return false
  for (let i = 0; i < n; i++) {
    const e = delta.get(t.pageNos[i]!)
    if (!e || !hashAtEqual(e.hash, 0, t.hashes, i * PAGE_HASH_BYTES)) return false
  }
  return true
}
