import { randomBytes } from 'node:crypto'
import { open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ChecksumMismatchError, InvalidArgumentError } from '../errors/index.js'
import { DatabaseChecksum, hashAtEqual, hashPage, toHex } from '../format/hash.js'
import type { PageNo } from '../format/page.js'
import type { SnapshotId } from '../format/ids.js'
import type { OperationOptions } from './progress.js'
import { pageHashOf, type ResolvedTable } from './chain.js'
import { fetchPages, type PageSink } from './page-fetcher.js'
import type { Repository, Target } from './repository.js'

/** Options for export. */
export interface ExportOptions extends OperationOptions {
  /** Replace an existing file (and remove its stale `-wal`, `-shm` and `-journal`). Default false. */
  overwrite?: boolean
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
  repo: Repository,
  t: ResolvedTable,
  target: Target,
  operation: string,
  sink: PageSink,
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
  await fetchPages(
    t,
    async (p, page, hash) => {
      sum.toggle(p, hash)
      await sink(p, page, hash)
    },
    {
      concurrency: repo.options.concurrency,
      maxRunBytes: repo.options.maxRunBytes,
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
export async function readDatabase(repo: Repository, target: Target, opts: OperationOptions = {}): Promise<Uint8Array> {
  const t = await repo.resolve(target.snapshot, target.branch)
  const out = new Uint8Array(t.pageCount * t.pageSize)
  await streamPages(repo, t, target, 'read', (p, page) => out.set(page, (p - 1) * t.pageSize), opts)
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
export async function exportSnapshot(repo: Repository, target: Target, outPath: string, opts: ExportOptions): Promise<ExportResult> {
  const existing = await stat(outPath).catch(() => null)
  if (existing && !opts.overwrite) {
    throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} already exists; choose another path or overwrite it explicitly` })
  }
  if (existing && !existing.isFile()) throw new InvalidArgumentError({ argument: 'output path', reason: `${outPath} is not a regular file` })
  const t = await repo.resolve(target.snapshot, target.branch)
  const size = t.pageSize
  const tmp = join(dirname(outPath), `.${basename(outPath)}.strata-${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx')
  let done = false
  try {
    // Sized up front: pages land at their offsets in any order; the lock-byte page and all-zero
    // pages stay holes that read as zeros.
    await fh.truncate(t.pageCount * size)
    const expected = await streamPages(repo, t, target, 'export', async (p, page) => {
      await fh.write(page, 0, size, (p - 1) * size)
    }, { ...opts, skipZeroPages: true })
    await fh.sync()
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
