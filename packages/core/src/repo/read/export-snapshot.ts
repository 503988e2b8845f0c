import { randomBytes } from 'node:crypto'
import { open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ChecksumMismatchError, InvalidArgumentError } from '../../errors/index.js'
import { DatabaseChecksum, PAGE_HASH_BYTES, hashAtEqual, hashPage, toHex } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'
import type { SnapshotId } from '../../format/ids.js'
import type { OperationOptions } from './progress.js'
import { pageHashOf, type ResolvedTable } from './chain.js'
import { fetchPageRuns, type PageRunSink, type PageSink } from './page-fetcher.js'
import type { Target } from './chain.js'
import { type RepoContext } from './context.js'

/** Options for export. */
export interface ExportOptions extends OperationOptions {
  /** Replace an existing file (and remove its stale `-wal`, `-shm` and `-journal`). Default false. */
  overwrite?: boolean
  /**
   * fsync the file before it appears under its name. Default true. A scratch copy that is never
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

/** Like {@link streamPages}, handing `sink` the pages of each ranged read at once (see `PageRunSink`). */
export async function streamPageRuns(
  ctx: RepoContext,
  t: ResolvedTable,
  target: Target,
  operation: string,
  sink: PageRunSink,
  opts: OperationOptions & { skipZeroPages?: boolean },
): Promise<string> {
  const sum = new DatabaseChecksum()
  let loaded = 0
  let pages: PageNo[] | undefined
  if (opts.skipZeroPages) {
    // The sink's target already reads as zeros there (a fresh sparse file): a page whose recorded
    // hash is the zero page's needs no transfer and no write.
    const zero = hashPage(new Uint8Array(t.pageSize))
    pages = []
    for (let p = 1 as PageNo; p <= t.pageCount; p++) {
      const h = pageHashOf(t, p)
      if (h === null) continue
      if (hashAtEqual(h, 0, zero, 0)) sum.toggle(p, zero)
      else pages.push(p)
    }
    loaded = t.pageCount - pages.length
  }
  await fetchPageRuns(
    t,
    async (run) => {
      for (let i = 0; i < PAGE_HASH_BYTES; i++) sum.bytes[i]! ^= run.checksumTerms[i]!
      await sink(run)
    },
    {
      concurrency: ctx.settings.concurrency,
      maxRunBytes: ctx.settings.maxRunBytes,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onPages: (n) => opts.onProgress?.({ phase: 'fetch', loaded: (loaded += n), total: t.pageCount }),
    },
    pages,
  )
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
 * file against the snapshot's checksum. The file appears atomically (temp file, fsync, rename);
 * on any failure nothing is left behind. The bytes are exactly the stored ones, header included
 * (a database stored in WAL mode exports in WAL mode).
 */
export async function exportSnapshot(ctx: RepoContext, target: Target, outPath: string, opts: ExportOptions): Promise<ExportResult> {
  const existing = await stat(outPath).catch(() => null)
  if (existing && !opts.overwrite) {
    throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} already exists; choose another path or overwrite it explicitly` })
  }
  if (existing && !existing.isFile()) throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} is not a regular file` })
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  const size = t.pageSize
  const tmp = join(dirname(outPath), `.${basename(outPath)}.strata-${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx')
  let done = false
  try {
    // Sized up front: pages land at their offsets in any order; the lock-byte page and all-zero
    // pages stay holes that read as zeros.
    await fh.truncate(t.pageCount * size)
    const expected = await streamPageRuns(ctx, t, target, 'export', async ({ pages, body }) => {
      // One write per run of consecutive pages: per-page writes cost more than the copying.
      let first = 0
      for (let i = 1; i <= pages.length; i++) {
        if (i < pages.length && pages[i] === pages[i - 1]! + 1) continue
        await fh.write(body, first * size, (i - first) * size, (pages[first]! - 1) * size)
        first = i
      }
    }, { ...opts, skipZeroPages: true })
    if (opts.durable !== false) await fh.sync()
    await fh.close()
    done = true
    if (existing) await Promise.all(['-wal', '-shm', '-journal'].map((s) => rm(outPath + s, { force: true })))
    await rename(tmp, outPath)
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
    throw e
  }
}
