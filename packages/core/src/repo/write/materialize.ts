import { fromHex } from '../../format/hash.js'
import { validateName } from '../../format/names.js'
import { buildPageTable } from '../../format/page-table.js'
import type { CommitResult } from './commit.js'
import { streamPages } from '../read/export-snapshot.js'
import type { OperationOptions } from '../read/progress.js'
import { requireRef } from '../branches/refs.js'
import { SegmentWriter } from './segment-writer.js'
import { type RepoContext } from '../read/context.js'
import { publishSnapshot } from './publish-snapshot.js'
import { commitResult } from './commit.js'

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
export async function materialize(ctx: RepoContext, branch: string, opts: MaterializeOptions): Promise<CommitResult> {
  validateName(branch)
  const current = await requireRef(ctx.store, branch)
  const t = await ctx.chains.resolve(current.ref.head, { branch: branch })
  const writer = new SegmentWriter(ctx.store, t.pageSize, {
    segmentBytes: ctx.settings.segmentBytes,
    concurrency: Math.max(2, Math.ceil(ctx.settings.concurrency / 2)),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  const checksum = await streamPages(ctx, t, { snapshot: current.ref.head, branch }, 'materialize', (p, page, hash) => writer.add(p, page, hash), opts).catch(async (e: unknown) => {
    // A failed read must not leave uploads running after materialize has failed.
    await writer.settle()
    throw e
  })
  const written = await writer.finish()
  const published = await publishSnapshot(ctx, {
    branch: current,
    manifest: {
      pageSize: t.pageSize,
      pageCount: t.pageCount,
      fallback: null,
      message: opts.message ?? `materialize ${branch}`,
      author: opts.author,
      tags: [],
      operation: 'materialize',
      checksum: fromHex(checksum),
      segments: written.segments,
      pages: buildPageTable(written.entries),
    },
    base: 'self',
  })
  const pages = written.entries.length
  return commitResult(published, { pageCount: t.pageCount, ownPages: pages, pagesUploaded: pages, bytesWritten: writer.bytesWritten })
}
