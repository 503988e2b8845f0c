import { randomBytes } from 'node:crypto'
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ChecksumMismatchError, InvalidArgumentError } from '../../errors/index.js'
import { PAGE_HASH_BYTES, hashAtEqual, hashPage, toHex } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'
import type { SnapshotId } from '../../format/ids.js'
import { fileErrorFrom, syncDir } from '../../store/local-paths.js'
import type { OperationOptions } from './progress.js'
import { LOCK_PAGE_LEVEL, type ResolvedTable } from './chain.js'
import { fetchPageRuns, type FetchedRun, type PageRunSink, type PageSink } from './page-fetcher.js'
import type { Target } from './chain.js'
import { type RepoContext } from './context.js'
import { resolvedChecksum } from './table-checksum.js'
import { prepareHashing } from './hash-pool.js'

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

/**
 * Like {@link streamPages}, handing `sink` the pages of each ranged read at once (see
 * `PageRunSink`). With `lead`, the reads of the pages it selects are queued before the others,
 * so they start first (and, being few, mostly reach the sink first); nothing waits for them. Not
 * with `windows`.
 */
export async function streamPageRuns(
  ctx: RepoContext,
  t: ResolvedTable,
  target: Target,
  operation: string,
  sink: PageRunSink,
  opts: OperationOptions & { skipZeroPages?: boolean; windows?: PageWindows; lendBuffers?: boolean; keepGaps?: boolean; lead?: (p: PageNo) => boolean },
): Promise<string> {
  prepareHashing(t.pageCount * t.pageSize)
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
      const li = t.level[p - 1]!
      // The recorded hash compared where its table holds it: no view per page.
      if (li !== LOCK_PAGE_LEVEL && !hashAtEqual(t.levels[li]!.manifest.pages.hashes, t.entry[p - 1]! * PAGE_HASH_BYTES, zero, 0)) pages.push(p)
    }
    loaded = t.pageCount - pages.length
  }
  const fetchOpts = {
    concurrency: ctx.settings.concurrency,
    maxRunBytes: ctx.settings.maxRunBytes,
    lendBuffers: opts.lendBuffers ?? false,
    keepGaps: opts.keepGaps ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onPages: (n: number) => opts.onProgress?.({ phase: 'fetch', loaded: (loaded += n), total: t.pageCount }),
  }
  const w = opts.windows
  if (opts.lead && !w) {
    // One queue, the leading pages' reads first: they start before the others, none waits.
    const all = pages ?? Array.from({ length: t.pageCount }, (_, i) => (i + 1) as PageNo)
    const lead = opts.lead
    await fetchPageRuns(t, sink, fetchOpts, [...all.filter(lead), ...all.filter((p) => !lead(p))])
  } else if (!w) {
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
    const writer = new RunWriter(fh, t, flusher)
    // Every write is awaited before the sink returns, so the fetcher may recycle the read buffer.
    const expected = await streamPageRuns(ctx, t, target, 'export', (run) => writer.write(run), {
      ...opts,
      skipZeroPages: true,
      lendBuffers: true,
      keepGaps: true,
      ...(writer.lead ? { lead: writer.lead } : {}),
    })
      .then(async (sum) => (await writer.finish(), sum))
      .finally(() => flusher?.settle())
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

/** Most bytes of pages an export holds in memory to write the reads of a chain's base whole. */
const HELD_BYTES_MAX = 32 * 1024 * 1024

/**
 * Writes the reads of an export into its file, one write per stretch of consecutive pages. In a
 * stacked chain most pages come from one level, the base, and the pages the levels above replace
 * cut its reads into short stretches: a 256 MiB base under 32 levels of 64 changed pages would
 * take thousands of small writes. So when the pages of the other levels fit in
 * {@link HELD_BYTES_MAX}, their reads go first (`lead`) and their pages are held; a base read that
 * bridged spare slots then gets the held pages copied into them — verified bytes over the stale
 * ones — and goes to the file with one write. A gap whose pages have not arrived yet splits the
 * write instead (nothing waits); held pages no base read took are written by `finish`.
 */
class RunWriter {
  readonly #size: number
  /** The level serving the most pages. */
  readonly #base: number
  /** Held page number → its index in `#held` (page order). */
  readonly #index = new Map<number, number>()
  #held: Uint8Array | null = null
  /** Per held page: 1 once it arrived (a zero page never does: it stays a hole), 2 once written. */
  #state: Uint8Array | null = null
  #heldPages: number[] = []
  /** Fetch these pages first, when other levels' pages are held; undefined otherwise. */
  readonly lead: ((p: PageNo) => boolean) | undefined

  constructor(
    readonly fh: FileHandle,
    readonly t: ResolvedTable,
    readonly flusher: BackgroundFlush | null,
  ) {
    this.#size = t.pageSize
    const counts = new Uint32Array(t.levels.length)
    for (let i = 0; i < t.pageCount; i++) if (t.level[i] !== LOCK_PAGE_LEVEL) counts[t.level[i]!]!++
    this.#base = counts.indexOf(Math.max(...counts))
    const other = counts.reduce((a, b) => a + b, 0) - counts[this.#base]!
    if (other === 0 || other * this.#size > HELD_BYTES_MAX) return
    for (let i = 0; i < t.pageCount; i++) {
      const li = t.level[i]!
      if (li !== LOCK_PAGE_LEVEL && li !== this.#base) {
        this.#index.set(i + 1, this.#heldPages.length)
        this.#heldPages.push(i + 1)
      }
    }
    this.#held = new Uint8Array(this.#heldPages.length * this.#size)
    this.#state = new Uint8Array(this.#heldPages.length)
    const base = this.#base
    this.lead = (p) => t.level[p - 1] !== base
  }

  /** Write (or hold) the verified pages of one read. */
  async write(run: FetchedRun): Promise<void> {
    const { pages, body } = run
    const size = this.#size
    const at = (i: number): number => (run.offsets ? run.offsets[i]! : i)
    if (this.#held && this.t.level[pages[0]! - 1] !== this.#base) {
      for (let i = 0; i < pages.length; i++) {
        const k = this.#index.get(pages[i]!)!
        this.#held.set(body.subarray(at(i) * size, (at(i) + 1) * size), k * size)
        this.#state![k] = 1
      }
      return
    }
    for (let i = 0; i < pages.length; ) {
      let j = i
      // Extend over the next page when it follows in the file as it follows in the read: next to
      // it, or past spare slots that held pages fill.
      while (j + 1 < pages.length && pages[j + 1]! - pages[j]! === at(j + 1) - at(j) && (pages[j + 1]! - pages[j]! === 1 || this.#patch(run, j, at(j)))) j++
      await this.#put(body, at(i) * size, (at(j) - at(i) + 1) * size, (pages[i]! - 1) * size)
      i = j + 1
    }
  }

  /** Fill the spare slots between wanted pages j and j+1 of `run` with held pages, if all of them arrived. */
  #patch(run: FetchedRun, j: number, slot: number): boolean {
    if (!this.#held || !run.writable) return false
    const from = run.pages[j]! + 1
    const to = run.pages[j + 1]!
    for (let q = from; q < to; q++) {
      const k = this.#index.get(q)
      if (k === undefined || this.#state![k] === 0) return false
    }
    const size = this.#size
    for (let q = from; q < to; q++) {
      const k = this.#index.get(q)!
      run.body.set(this.#held.subarray(k * size, (k + 1) * size), (slot + q - run.pages[j]!) * size)
      this.#state![k] = 2
    }
    return true
  }

  /** Write the held pages no base read covered, a stretch of consecutive pages at a time. */
  async finish(): Promise<void> {
    if (!this.#held) return
    const pages = this.#heldPages
    const state = this.#state!
    for (let i = 0; i < pages.length; ) {
      if (state[i] !== 1) {
        i++
        continue
      }
      let j = i
      while (j + 1 < pages.length && state[j + 1] === 1 && pages[j + 1] === pages[j]! + 1) j++
      await this.#put(this.#held, i * this.#size, (j - i + 1) * this.#size, (pages[i]! - 1) * this.#size)
      i = j + 1
    }
  }

  async #put(buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    await writeFully(this.fh, buf, offset, length, position)
    this.flusher?.wrote(length)
  }
}

/**
 * Bytes written between two background flushes of an export. A smaller flush finishes sooner and
 * holds one of libuv's threads (which the reads and writes share) for less time at once; 16 MiB
 * measured faster than 32 MiB, 8 and 4 MiB no faster than 16.
 */
const FLUSH_EVERY_BYTES = 16 * 1024 * 1024

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
    ({ pages, body, offsets }) => {
      for (let i = 0; i < pages.length; i++) {
        const at = offsets ? offsets[i]! : i
        window.set(body.subarray(at * size, (at + 1) * size), (pages[i]! - first) * size)
      }
    },
    {
      ...opts,
      skipZeroPages: true,
      // The sink copies each read into the window before it returns, wanted pages only.
      lendBuffers: true,
      keepGaps: true,
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
