import { open, stat } from 'node:fs/promises'
import { AbortedError, InvalidDatabaseError } from '../../errors/index.js'
import { DatabaseChecksum, hashPage } from '../../format/hash.js'
import { type SnapshotId } from '../../format/ids.js'
import { validateName } from '../../format/names.js'
import { lockBytePage, pageCount as toPageCount, type PageNo, type PageSize } from '../../format/page.js'
import { buildPageTable } from '../../format/page-table.js'
import { SQLITE_HEADER_BYTES, parseSqliteHeader, type SqliteHeader } from '../../format/sqlite-header.js'
import type { OperationOptions } from '../read/progress.js'
import { assertNameFree } from '../branches/refs.js'
import { SegmentWriter } from './segment-writer.js'
import { type RepoContext } from '../read/context.js'
import { publishSnapshot } from './publish-snapshot.js'

/** Options for importing a database file. */
export interface ImportOptions extends OperationOptions {
  /** The new branch's name. Default `main`. */
  branch?: string
  message?: string
  author?: string
}

/** What an import wrote. */
export interface ImportResult {
  branch: string
  snapshot: SnapshotId
  pageSize: number
  pageCount: number
  /** Bytes of the file. */
  bytes: number
  /** Segments the snapshot is made of. */
  segments: number
  /** Of those, how many the store held already and were not uploaded again (a database imported before). */
  segmentsAlreadyStored: number
  /** Bytes uploaded: new segments, the manifest and records. */
  bytesWritten: number
}

/** A validated database file, ready to read. */
export interface DatabaseFileInfo {
  path: string
  header: SqliteHeader
  pageSize: PageSize
  pageCount: number
  fileSize: number
  mtimeMs: number
}

/**
 * Check that `path` is a complete, quiescent SQLite database and describe it. Refuses, with
 * `InvalidDatabaseError`: a missing or empty file, a bad header, a size that is not a whole
 * number of pages, a header page count that disagrees with the size, a hot rollback journal,
 * and a non-empty WAL (its pages are not in the main file; checkpoint it or import through
 * `@strata/sqlite`, which does).
 */
export async function inspectDatabaseFile(path: string): Promise<DatabaseFileInfo> {
  const refuse = (reason: string, cause?: unknown): never => {
    throw new InvalidDatabaseError({ path, reason }, cause === undefined ? undefined : { cause })
  }
  let st
  try {
    st = await stat(path)
  } catch (e) {
    return refuse((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : `it cannot be read (${(e as Error).message})`, e)
  }
  if (!st.isFile()) refuse('it is not a regular file')
  if (st.size === 0) refuse('the file is empty')
  const fh = await open(path, 'r').catch((e: unknown) => refuse(`it cannot be opened (${(e as Error).message})`, e))
  let header: SqliteHeader
  try {
    const buf = new Uint8Array(SQLITE_HEADER_BYTES)
    const { bytesRead } = await fh.read(buf, 0, SQLITE_HEADER_BYTES, 0)
    const parsed = parseSqliteHeader(buf.subarray(0, bytesRead))
    if ('error' in parsed) return refuse(parsed.error)
    header = parsed
  } finally {
    await fh.close()
  }
  const size = header.pageSize
  if (st.size % size !== 0) refuse(`its size (${st.size} bytes) is not a whole number of ${size}-byte pages: it is truncated or mid-write`)
  const pages = st.size / size
  if (header.headerPageCount !== null && header.headerPageCount !== pages) {
    refuse(`its header says ${header.headerPageCount} pages but the file holds ${pages}: it is truncated, damaged or mid-write`)
  }
  for (const [suffix, what] of [['-journal', 'a hot rollback journal'], ['-wal', 'a write-ahead log with un-checkpointed pages']] as const) {
    const side = await stat(path + suffix).catch(() => null)
    if (side && side.size > 0) {
      refuse(`it has ${what} (${path}${suffix}); open it with SQLite once and checkpoint (PRAGMA wal_checkpoint(TRUNCATE)), or import it with @strata/sqlite's live import`)
    }
  }
  return { path, header, pageSize: size, pageCount: pages, fileSize: st.size, mtimeMs: st.mtimeMs }
}

/**
 * Import the file at `path` as a standalone root snapshot on a new branch. Pages stream through
 * in segment-sized chunks (memory stays bounded); uploads overlap reading. The file must not
 * change while it is read (checked before and after). Order: segments, manifest, branch record,
 * ref — nothing is visible until the ref exists.
 */
export async function importDatabase(ctx: RepoContext, path: string, opts: ImportOptions): Promise<ImportResult> {
  const branch = opts.branch ?? 'main'
  validateName(branch)
  const info = await inspectDatabaseFile(path)
  const startedAt = ctx.now().getTime()
  await assertNameFree(ctx.store, branch)
  const size = info.pageSize
  const lockPage = lockBytePage(size)
  const writer = new SegmentWriter(ctx.store, size, {
    segmentBytes: ctx.settings.segmentBytes,
    concurrency: Math.max(2, Math.ceil(ctx.settings.concurrency / 2)),
    // Importing a file again (or after a killed import) finds its segments stored: ask before uploading.
    skipStored: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  const checksum = new DatabaseChecksum()
  const fh = await open(path, 'r')
  try {
    const chunkPages = Math.max(1, Math.floor(ctx.settings.segmentBytes / size))
    const buf = new Uint8Array(chunkPages * size)
    for (let first = 1; first <= info.pageCount; first += chunkPages) {
      if (opts.signal?.aborted) throw new AbortedError({ operation: 'import' })
      const n = Math.min(chunkPages, info.pageCount - first + 1)
      const { bytesRead } = await fh.read(buf, 0, n * size, (first - 1) * size)
      if (bytesRead !== n * size) throw new InvalidDatabaseError({ path, reason: 'the file shrank while it was being read' })
      for (let i = 0; i < n; i++) {
        const p = (first + i) as PageNo
        if (p === lockPage) continue
        const page = buf.subarray(i * size, (i + 1) * size)
        const hash = hashPage(page)
        checksum.toggle(p, hash)
        await writer.add(p, page, hash)
      }
      opts.onProgress?.({ phase: 'upload', loaded: first + n - 1, total: info.pageCount })
    }
  } catch (e) {
    // A failed read or upload must not leave uploads running after import has failed.
    await writer.settle()
    throw e
  } finally {
    await fh.close()
  }
  const written = await writer.finish()
  const after = await stat(path)
  if (after.size !== info.fileSize || after.mtimeMs !== info.mtimeMs) {
    throw new InvalidDatabaseError({ path, reason: 'the file changed while it was being read; import it again when no one is writing to it' })
  }

  const published = await publishSnapshot(ctx, {
    startedAt,
    ...(writer.segmentsAlreadyStored > 0 ? { recheck: true } : {}),
    branch: { create: branch },
    manifest: {
      pageSize: size,
      pageCount: toPageCount(info.pageCount),
      fallback: null,
      message: opts.message ?? `import ${path.split(/[\\/]/).pop()}`,
      author: opts.author,
      tags: [],
      operation: 'import',
      checksum: checksum.bytes,
      segments: written.segments,
      pages: buildPageTable(written.entries),
    },
  })
  return {
    branch,
    snapshot: published.snapshot,
    pageSize: size,
    pageCount: info.pageCount,
    bytes: info.fileSize,
    segments: written.segments.length,
    segmentsAlreadyStored: writer.segmentsAlreadyStored,
    bytesWritten: writer.bytesWritten + published.manifestBytes,
  }
}
