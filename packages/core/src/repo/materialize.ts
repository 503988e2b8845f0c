import { fromHex } from '../format/hash.js'
import { encodeManifest } from '../format/manifest.js'
import { validateName } from '../format/names.js'
import { buildPageTable } from '../format/page-table.js'
import type { Ref } from '../format/ref.js'
import type { CommitResult } from './commit.js'
import { putManifest } from './commit.js'
import { streamPages } from './export-snapshot.js'
import type { OperationOptions } from './progress.js'
import { requireRef, updateRef } from './refs.js'
import type { Repository } from './repository.js'
import { SegmentWriter } from './segment-writer.js'

/** Options for materialize. */
export interface MaterializeOptions extends OperationOptions {
  message?: string
  author?: string
}

/**
 * Flatten a branch: read every page of its head down the chain (verified), write them into fresh
 * segments of this store, and move the branch to a new snapshot with no fallback, which is also
 * its new base. The branch then depends on no ancestor (and, for cross-store chains, on no other
 * store). Every page is verified on the way and the result's checksum must equal the head's,
 * or nothing is published. A concurrent
 * commit makes the final CAS fail with `ConflictError`.
 */
export async function materialize(repo: Repository, branch: string, opts: MaterializeOptions): Promise<CommitResult> {
  validateName(branch)
  const current = await requireRef(repo.store, branch)
  const t = await repo.resolve(current.ref.head, branch)
  const writer = new SegmentWriter(repo.store, t.pageSize, {
    segmentBytes: repo.options.segmentBytes,
    concurrency: Math.max(2, Math.ceil(repo.options.concurrency / 2)),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  const checksum = await streamPages(repo, t, { snapshot: current.ref.head, branch }, 'materialize', (p, page, hash) => writer.add(p, page, hash), opts).catch(async (e: unknown) => {
    // A failed read must not leave uploads running after materialize has failed.
    await writer.settle()
    throw e
  })
  const written = await writer.finish()
  const encoded = encodeManifest({
    pageSize: t.pageSize,
    pageCount: t.pageCount,
    fallback: null,
    branchId: current.ref.branchId,
    branchName: branch,
    parent: current.ref.head,
    message: opts.message ?? `materialize ${branch}`,
    author: opts.author ?? repo.options.defaultAuthor,
    createdAt: repo.nowIso(),
    tags: [],
    operation: 'materialize',
    checksum: fromHex(checksum),
    segments: written.segments,
    pages: buildPageTable(written.entries),
  })
  await putManifest(repo, encoded.id, encoded.bytes)
  const next: Ref = { ...current.ref, head: encoded.id, base: encoded.id, updatedAt: repo.nowIso() }
  await updateRef(repo.store, next, current.version)
  return {
    changed: true,
    snapshot: encoded.id,
    previous: current.ref.head,
    branch,
    pageCount: t.pageCount,
    ownPages: written.entries.length,
    pagesUploaded: written.entries.length,
    bytesWritten: writer.bytesWritten + encoded.bytes.byteLength,
  }
}
