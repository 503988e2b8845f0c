import { randomBytes } from 'node:crypto'
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ChecksumMismatchError, InvalidArgumentError } from '../../errors/index.js'
import { PAGE_HASH_BYTES, hashAtEqual, hashPage, toHex } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'
import type { SnapshotId } from '../../format/ids.js'
import { fileErrorFrom, syncDir } from '../../store/local-paths.js'
import type { OperationOptions } from './progress.js'
import { pageHashOf, type ResolvedTable } from './chain.js'
import { fetchPageRuns, type PageRunSink, type PageSink } from './page-fetcher.js'
import type { Target } from './chain.js'
import { type RepoContext } from './context.js'
import { resolvedChecksum } from './table-checksum.js'

/** Options for export. */
export interface ExportOptions extends OperationOptions {
  /** Replace an existing file (and remove its stale `-wal`, `-shm` and `-journal`). Default false. */
  overwrite?: boolean
  /**
   * fsync the file before it appears under its name, and its directory after. Default true. A scratch copy that is never
   * reopened after a crash (a live branch's working file) can skip it: the fsync of a large
   * file costs about as much as writing it.
   */
  durable?: boolean
}

/** What an export wrote. */
export interface ExportResult {
  path: string
  snapshot: SnapshotId
  branch: string | null
  pageSize: number
  pageCount: number
  bytes: number
  checksum: string
}

/**
 * Fetch every page of resolved table `t` (verified against its hash) into `sink`, then check the
 * whole database against the snapshot's checksum (`ChecksumMismatchError`). Returns the
 * checksum as hex. The single read path behind export, materialize-free reads and `readDatabase`.
 */
export async function streamPages(
  ctx: RepoContext,
  t: ResolvedTable,
  target: Target,
  operation: string,
  sink: PageSink,
  opts: OperationOptions & { skipZeroPages?: boolean },
): Promise<string> {
  const size = t.pageSize
  return streamPageRuns(
    ctx,
    t,
    target,
    operation,
    async ({ pages, body, hashes }) => {
      for (let i = 0; i < pages.length; i++) {
        await sink(pages[i]!, body.subarray(i * size, (i + 1) * size), hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES))
      }
    },
    opts,
  )
}

/**
 * Fetch in consecutive windows of `pages` pages, in page order: `open(first, count)` before the
 * window's pages reach the sink, `close()` (awaited) after the last of them did. Memory then
 * stays within one window however the pages are spread over segments.
 */
export interface PageWindows {
  pages: number
  open(first: PageNo, count: number): void
  close(): Promise<void>
}

/** Like {@link streamPages}, handing `sink` the pages of each ranged read at once (see `PageRunSink`). */
export async function streamPageRuns(
  ctx: RepoContext,
  t: ResolvedTable,
  target: Target,
  operation: string,
  sink: PageRunSink,
  opts: OperationOptions & { skipZeroPages?: boolean; windows?: PageWindows; lendBuffers?: boolean },
): Promise<string> {
  // Summed from the recorded hashes while the pages are fetched (each is verified against its hash).
  const summing = resolvedChecksum(t)
  let loaded = 0
  let pages: PageNo[] | undefined
  if (opts.skipZeroPages) {
    // The sink's target already reads as zeros there (a fresh sparse file): a page whose recorded
    // hash is the zero page's needs no transfer and no write.
    const zero = hashPage(new Uint8Array(t.pageSize))
    pages = []
    for (let p = 1 as PageNo; p <= t.pageCount; p++) {
      const h = pageHashOf(t, p)
      if (h !== null && !hashAtEqual(h, 0, zero, 0)) pages.push(p)
    }
    loaded = t.pageCount - pages.length
  }
  const fetchOpts = {
    concurrency: ctx.settings.concurrency,
    maxRunBytes: ctx.settings.maxRunBytes,
    lendBuffers: opts.lendBuffers ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onPages: (n: number) => opts.onProgress?.({ phase: 'fetch', loaded: (loaded += n), total: t.pageCount }),
  }
  const w = opts.windows
  if (!w) {
    await fetchPageRuns(t, sink, fetchOpts, pages)
  } else {
    let k = 0
    for (let first = 1; first <= t.pageCount; first += w.pages) {
      const last = Math.min(t.pageCount, first + w.pages - 1)
      const wanted: PageNo[] = []
      if (pages) for (; k < pages.length && pages[k]! <= last; k++) wanted.push(pages[k]!)
      else for (let p = first; p <= last; p++) wanted.push(p as PageNo)
      w.open(first as PageNo, last - first + 1)
      if (wanted.length > 0) await fetchPageRuns(t, sink, fetchOpts, wanted)
      await w.close()
    }
  }
  const sum = await summing
  const expected = toHex(t.levels[0]!.manifest.checksum)
  if (sum.toHex() !== expected) {
    throw new ChecksumMismatchError({ snapshot: target.snapshot, expected, actual: sum.toHex(), operation })
  }
  return expected
}

/**
 * The whole database of `target` in memory (for in-memory opening), verified like an export.
 * Holds the database in memory: use export for large ones.
 */
export async function readDatabase(ctx: RepoContext, target: Target, opts: OperationOptions = {}): Promise<Uint8Array> {
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  const out = new Uint8Array(t.pageCount * t.pageSize)
  await streamPages(ctx, t, target, 'read', (p, page) => out.set(page, (p - 1) * t.pageSize), opts)
  return out
}

/**
 * Write the resolved pages of `target` to `outPath` as a plain SQLite file. Pages are fetched in
 * parallel (coalesced ranged reads) and written in place as they arrive, so memory stays bounded
 * by the fetch window, not the database. Every page is checked against its hash and the whole
 * file against the snapshot's checksum. The file appears atomically (temp file, fsync, rename,
 * then an fsync of its directory so that the name survives a crash too); on any failure before
 * the rename nothing is left behind. The bytes are exactly the stored ones, header included
 * (a database stored in WAL mode exports in WAL mode).
 */
export async function exportSnapshot(ctx: RepoContext, target: Target, outPath: string, opts: ExportOptions): Promise<ExportResult> {
  const existing = await stat(outPath).catch(() => null)
  if (existing && !existing.isFile()) throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} is not a regular file` })
  if (existing && !opts.overwrite) {
    throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} already exists` }, { hint: 'overwrite' })
  }
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  const size = t.pageSize
  const tmp = join(dirname(outPath), `.${basename(outPath)}.strata-${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx').catch((e: unknown) => {
    throw fileErrorFrom(e, outPath, { creating: true }) ?? e
  })
  let done = false
  try {
    // Sized up front: pages land at their offsets in any order; the lock-byte page and all-zero
    // pages stay holes that read as zeros.
    await fh.truncate(t.pageCount * size)
    const flusher = opts.durable !== false ? new BackgroundFlush(fh) : null
    // Every write is awaited before the sink returns, so the fetcher may recycle the read buffer.
    const expected = await streamPageRuns(ctx, t, target, 'export', async ({ pages, body }) => {
      // One write per run of consecutive pages: per-page writes cost more than the copying.
      let first = 0
      for (let i = 1; i <= pages.length; i++) {
        if (i < pages.length && pages[i] === pages[i - 1]! + 1) continue
        await writeFully(fh, body, first * size, (i - first) * size, (pages[first]! - 1) * size)
        first = i
      }
      flusher?.wrote(body.byteLength)
    }, { ...opts, skipZeroPages: true, lendBuffers: true }).finally(() => flusher?.settle())
    if (flusher) await flusher.finish()
    await fh.close()
    done = true
    if (existing) await Promise.all(['-wal', '-shm', '-journal'].map((s) => rm(outPath + s, { force: true })))
    await rename(tmp, outPath)
    // The name, too, must survive a crash once a durable export has returned.
    if (flusher) await syncDir(dirname(outPath))
    return {
      path: outPath,
      snapshot: target.snapshot,
      branch: target.branch,
      pageSize: size,
      pageCount: t.pageCount,
      bytes: t.pageCount * size,
      checksum: expected,
    }
  } catch (e) {
    if (!done) await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw fileErrorFrom(e, outPath, { creating: true }) ?? e
  }
}

/** Bytes written between two background flushes of an export. */
const FLUSH_EVERY_BYTES = 32 * 1024 * 1024

/**
 * Flushes a file being written while the writing goes on: a `datasync` every
 * {@link FLUSH_EVERY_BYTES} (one at a time) starts the disk writing early, so the final `sync`
 * — what makes the file durable before its rename — finds little left to do instead of the
 * whole file. An error of a background flush is the error of `finish`.
 */
class BackgroundFlush {
  #pending = 0
  #inflight: Promise<void> | null = null
  #error: unknown = null

  constructor(readonly fh: FileHandle) {}

  /** Count `bytes` written; start a flush if enough piled up and none is running. */
  wrote(bytes: number): void {
    this.#pending += bytes
    if (this.#pending < FLUSH_EVERY_BYTES || this.#inflight) return
    this.#pending = 0
    this.#inflight = this.fh
      .datasync()
      .catch((e: unknown) => void (this.#error ??= e))
      .finally(() => (this.#inflight = null))
  }

  /** Wait for the flush in flight, if any, ignoring its outcome (before closing the file on failure). */
  async settle(): Promise<void> {
    await this.#inflight
  }

  /** Wait for the flush in flight, then make the whole file durable. */
  async finish(): Promise<void> {
    await this.#inflight
    if (this.#error) throw this.#error
    await this.fh.sync()
  }
}

// A write to a filling disk may take fewer bytes than asked without an error: write the rest,
// so that the disk being full is an error (ENOSPC) and never a short file.
async function writeFully(fh: FileHandle, buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  while (length > 0) {
    const { bytesWritten } = await fh.write(buf, offset, length, position)
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC', syscall: 'write' })
    offset += bytesWritten
    length -= bytesWritten
    position += bytesWritten
  }
}

/** What a streamed export wrote (see {@link exportToSink}). */
export type StreamExportResult = Omit<ExportResult, 'path'>

/**
 * Receives the bytes of a database in order, one window of consecutive pages at a time; the
 * next call comes after the returned promise resolves. It may keep the chunk.
 */
export type ByteSink = (chunk: Uint8Array) => Promise<void>

/**
 * Stream `target` to `write` as the bytes of a plain SQLite file, in page order: a window of
 * pages (`concurrency × maxRunBytes` bytes) is fetched in parallel, verified page by page and
 * handed over before the next is fetched, so memory stays bounded by one window. The
 * whole-database checksum can only be checked at the end: a `ChecksumMismatchError` (or any
 * other error) comes after some bytes were handed over, and the caller must discard them —
 * a pipe cannot unwrite bytes. An error thrown by `write` stops the export and is rethrown.
 */
export async function exportToSink(ctx: RepoContext, target: Target, write: ByteSink, opts: OperationOptions = {}): Promise<StreamExportResult> {
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  const size = t.pageSize
  let first = 1
  let window = new Uint8Array(0)
  const checksum = await streamPageRuns(
    ctx,
    t,
    target,
    'export',
    ({ pages, body }) => {
      for (let i = 0; i < pages.length; i++) window.set(body.subarray(i * size, (i + 1) * size), (pages[i]! - first) * size)
    },
    {
      ...opts,
      skipZeroPages: true,
      // The sink copies each read into the window before it returns.
      lendBuffers: true,
      windows: {
        pages: Math.max(1, Math.floor((ctx.settings.concurrency * ctx.settings.maxRunBytes) / size)),
        // A fresh buffer per window: zero pages are holes that read as zeros, and the sink may keep the last one.
        open: (p, count) => void ((first = p), (window = new Uint8Array(count * size))),
        close: () => write(window),
      },
    },
  )
  return { snapshot: target.snapshot, branch: target.branch, pageSize: size, pageCount: t.pageCount, bytes: t.pageCount * size, checksum }
}
