import { type Repository } from '@strata/core'
import { buildPageTable, fromHex, streamPages } from '@strata/core/engine'
import { SegmentWriter } from '../../../packages/core/src/repo/write/segment-writer.js'
import { publishSnapshot } from '../../../packages/core/src/repo/write/publish-snapshot.js'

/**
 * The baseline a full-snapshot system pays to create a branch: read every page of `spec` in
 * `src` (verified, as Strata reads) and store all of them again as a new standalone snapshot
 * with its own branch in `dst`. `dst` is a different, empty store: Strata's segments are
 * content-addressed, so copying into the same store would find every segment present and write
 * nothing — a copy that costs no copy would not be a baseline.
 */
export async function fullCopyBranch(src: Repository, spec: string, dst: Repository, name: string): Promise<{ bytesWritten: number }> {
  const target = await src.resolveTarget(spec)
  const t = await src.resolve(target.snapshot, target.branch)
  const writer = new SegmentWriter(dst.store, t.pageSize, { segmentBytes: dst.options.segmentBytes, concurrency: dst.options.concurrency })
  const checksum = await streamPages(src.ctx, t, target, 'copy', (p, page, hash) => writer.add(p, page, hash), {})
  const written = await writer.finish()
  const published = await publishSnapshot(dst.ctx, {
    branch: { create: name },
    manifest: {
      pageSize: t.pageSize,
      pageCount: t.pageCount,
      fallback: null,
      message: `full copy of ${spec}`,
      author: 'bench',
      tags: [],
      operation: 'copy',
      checksum: fromHex(checksum),
      segments: written.segments,
      pages: buildPageTable(written.entries),
    },
  })
  return { bytesWritten: writer.bytesWritten + published.manifestBytes }
}
