import {
  SegmentWriter,
  branchKey,
  buildPageTable,
  createRef,
  encodeBranchRecord,
  encodeManifest,
  fromHex,
  newBranchId,
  putManifest,
  streamPages,
  type Ref,
  type Repository,
} from '@strata/core'

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
  const checksum = await streamPages(src, t, target, 'copy', (p, page, hash) => writer.add(p, page, hash), {})
  const written = await writer.finish()
  const now = dst.nowIso()
  const branchId = newBranchId()
  const encoded = encodeManifest({
    pageSize: t.pageSize,
    pageCount: t.pageCount,
    fallback: null,
    branchId,
    branchName: name,
    parent: null,
    message: `full copy of ${spec}`,
    author: 'bench',
    createdAt: now,
    tags: [],
    operation: 'copy',
    checksum: fromHex(checksum),
    segments: written.segments,
    pages: buildPageTable(written.entries),
  })
  await putManifest(dst, encoded.id, encoded.bytes)
  await dst.store.put(branchKey(branchId), encodeBranchRecord({ id: branchId, name, createdAt: now, source: null, sourceBranch: null }), { ifNoneMatch: '*' })
  const ref: Ref = { name, branchId, head: encoded.id, base: encoded.id, updatedAt: now, expiresAt: null }
  await createRef(dst.store, ref)
  return { bytesWritten: writer.bytesWritten + encoded.bytes.byteLength }
}
