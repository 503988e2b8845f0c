import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OperationOptions, Repository, Target } from '@strata/core'
import { lazyPlan, openLazyFile, type LazyFile, type LazyStats } from '../lazy/lazy-file.js'
import { translateErrors } from '../lazy/translate-errors.js'
import type { LiveDatabase } from '../sqlite-types.js'

/** A snapshot as a database file for SQLite to analyse: exported whole, or lazy. */
export interface SideFile {
  target: Target
  path: string
  pageSize: number
  pageCount: number
  /** A lazy file: fetch these pages into it now, in one batch. Null for an exported file (it has every page). */
  prefetch: ((pages: readonly number[]) => Promise<void>) | null
}

/**
 * Lazy settings for reading a few scattered ranges of a database: no open window, read-ahead
 * only once reads go sequential, and short windows, so a scan that ends (a table, a range) does
 * not fetch far into the pages after it; no children prefetched (the b-tree walk fetches what it
 * needs in batches).
 */
export const SIDE_LAZY_OPTIONS = { openPages: 1, minWindow: 1, maxWindow: 8, prefetchChildren: 0 } as const

/** How side files are made: `file` exports every page; `lazy` serves pages on demand (the VFS). */
export type SideMode = 'file' | 'lazy'

/** Temporary database files of snapshots, removed together by {@link SideFiles.dispose}. */
export class SideFiles {
  /** The directory holding the files. */
  readonly dir: string
  readonly #mode: SideMode
  readonly #warn: (message: string) => void
  readonly #lazy: LazyFile[] = []
  readonly #lazyOptions = SIDE_LAZY_OPTIONS

  private constructor(dir: string, mode: SideMode, warn: (message: string) => void) {
    this.dir = dir
    this.#mode = mode
    this.#warn = warn
  }

  /** A fresh directory under `workDir` (default: the OS temp directory). */
  static async create(workDir?: string, mode: SideMode = 'file', warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<SideFiles> {
    return new SideFiles(await mkdtemp(join(workDir ?? tmpdir(), 'strata-diff-')), mode, warn)
  }

  /**
   * Have `db` (opened on side files of this set) report fetch failures of lazy side files as the
   * Strata errors they are (see `LazyFile.translate`).
   */
  guard(db: LiveDatabase): void {
    if (this.#lazy.length === 0) return
    translateErrors(db, (e) => {
      const failed = this.#lazy.filter((l) => l.failedSinceLastAsked())
      return (failed[0] ?? this.#lazy[0]!).translate(e)
    })
  }

  /**
   * Lazy mode: a sparse file served on demand (falling back to an export, with a warning, where
   * the VFS is unavailable). File mode: export `target` to `<dir>/<name>.db` (every page,
   * verified against the snapshot's checksum) and set its header to rollback-journal mode, so a read-only connection opens it without a
   * `-wal` or `-shm` file. Bytes 18/19 are the only change: page ownership and content stay.
   */
  async write(repo: Repository, target: Target, name: string, opts: OperationOptions = {}): Promise<SideFile> {
    if (this.#mode === 'lazy') {
      const table = await repo.resolve(target.snapshot, target.branch)
      const plan = lazyPlan(table, {})
      if ('unavailable' in plan) this.#warn(`strata: lazy mode unavailable (${plan.unavailable}); exporting the whole database`)
      else {
        const { concurrency, maxRunBytes } = repo.options
        // Rollback-journal header bytes, as for exported side files.
        const { lazy } = await openLazyFile(target, table, plan, this.dir, repo.store.url, { concurrency, maxRunBytes, localFormat: { write: 1, read: 1 }, ...this.#lazyOptions }, () => null)
        this.#lazy.push(lazy)
        return { target, path: lazy.path, pageSize: table.pageSize, pageCount: table.pageCount, prefetch: (pages) => lazy.prefetch(pages) }
      }
    }
    const path = join(this.dir, `${name}.db`)
    const exported = await repo.export(target.snapshot, path, opts)
    const fh = await open(path, 'r+')
    try {
      const header = Buffer.alloc(2)
      await fh.read(header, 0, 2, 18)
      if (header[0] === 2 || header[1] === 2) await fh.write(Buffer.from([1, 1]), 0, 2, 18)
    } finally {
      await fh.close()
    }
    return { target, path, pageSize: exported.pageSize, pageCount: exported.pageCount, prefetch: null }
  }

  /** What each lazy side file fetched so far, in the order written (empty in file mode or where lazy mode was unavailable). */
  stats(): LazyStats[] {
    return this.#lazy.map((l) => l.stats())
  }

  /** Remove every file (close the connections on them first). Idempotent. */
  async dispose(): Promise<void> {
    await Promise.all(this.#lazy.splice(0).map((l) => l.release()))
    await rm(this.dir, { recursive: true, force: true })
  }
}
