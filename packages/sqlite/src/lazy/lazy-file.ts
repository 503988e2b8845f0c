import { randomBytes, randomInt } from 'node:crypto'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import * as core from '@strata/core'
import { StoreError, type FirstPages, type PageNo, type ResolvedTable, type Target } from '@strata/core'
import { HINTED_PAGES, encodeName, locatePage, segmentKey } from '@strata/core/engine'
import { InvalidStateError } from '../errors/index.js'
import { removeWorkingFile } from '../file-working-database.js'
import type { LiveDatabase } from '../sqlite-types.js'
import { fetcherThread, type FetcherThread } from './fetcher-thread.js'
import type { OpenFile, StoreRecipe, WireError, WireLevel } from './protocol.js'
import { recipeOf } from './store-recipe.js'
import { vfsControl, type VfsControl, type VfsFileStats } from './vfs-extension.js'
import { ENTRY_POINT } from '@strata/vfs'

/** How long a lazy fetch may take before it fails, unless `LazyOptions.timeoutMs` says otherwise. */
export const DEFAULT_LAZY_TIMEOUT_MS = 30_000

/** Options of lazy mode (`openBranch(repo, name, { mode: 'lazy', lazy })`). */
export interface LazyOptions {
  /**
   * A fetch that takes longer fails the SQLite call with an I/O error (surfacing as a
   * `StoreError`), never a hang. Default 30 000 ms.
   */
  timeoutMs?: number
  /** Fetch the rest of the branch in the background after opening. Default false. */
  background?: boolean
  /**
   * Pages fetched at open from page 1 on (the schema, the first roots). Default 12: under 64 KiB,
   * so a point query never starts core's hashing threads (reads that small are hashed in place),
   * and the pages a ref's read hint covers, which arrive with the manifest.
   */
  openPages?: number
  /** Read-ahead after a miss, in pages: the first window; sequential misses double it up to the largest. Default 8. */
  minWindow?: number
  /** The largest read-ahead window, in pages. Default: the repository's `maxRunBytes` worth. */
  maxWindow?: number
  /**
   * When a B-tree interior page arrives (at open or on a point-like miss) and has at most this
   * many children, fetch them at once, in parallel: the next level of a lookup is then on its
   * way before SQLite asks for it. 0 turns it off. Default 32.
   */
  prefetchChildren?: number
  /**
   * How the fetcher thread opens a store (it needs its own instance): by default a store's
   * `threadRecipe()`, a local directory's path, a `CachingStore`'s inner store.
   */
  storeRecipe?: (store: core.ObjectStore) => StoreRecipe | null
}

/** What lazy reads of a handle's current file cost so far. */
export interface LazyStats extends VfsFileStats {
  /** The file's snapshot. */
  snapshot: string
  /** True once background hydration fetched every page. */
  hydrated: boolean
}

/**
 * The lazy side of a working file: registered with the VFS, served by the fetcher thread.
 * Internal to the live handle.
 */
export class LazyFile {
  #released = false
  #hydrated = false
  #backgroundError: WireError | undefined

  constructor(
    readonly id: number,
    readonly path: string,
    readonly table: ResolvedTable,
    readonly storeUrl: string,
    readonly control: VfsControl,
    readonly thread: FetcherThread,
  ) {}

  stats(): LazyStats {
    const s = this.control.stats(this.id)
    if (!s) throw new InvalidStateError({ operation: 'read lazy statistics', reason: 'the lazy file is closed' })
    return { ...s, snapshot: this.table.snapshot, hydrated: this.#hydrated || s.present >= s.owned }
  }

  #failuresSeen = 0

  /** True if a read of this file failed since the last call (which of several files an error is about). */
  failedSinceLastAsked(): boolean {
    const n = this.control.stats(this.id)?.failures ?? 0
    const failed = n > this.#failuresSeen
    this.#failuresSeen = n
    return failed
  }

  /** SQLite's writes to the file so far: the WAL tracker's marker of "the main file changed". */
  version(): bigint {
    return BigInt(this.control.stats(this.id)?.sqliteWrites ?? -1)
  }

  /** Fetch every page the file still lacks (a full scan needs them all). Throws the Strata error. */
  ensureAll(pageCount: number): void {
    try {
      this.control.ensure(this.id, 1, pageCount)
    } catch (e) {
      throw this.translate(e)
    }
  }

  onHydrated(error: WireError | undefined): void {
    if (error) this.#backgroundError = error
    else this.#hydrated = true
  }

  /** The error background hydration stopped on, if any. */
  get backgroundError(): Error | null {
    return this.#backgroundError ? revive(this.#backgroundError, undefined) : null
  }

  /**
   * The error to show for `e`, thrown by SQLite on this file: the fetcher's typed error for an
   * I/O error it reported (named page, snapshot, key), a `StoreError` for a deadline or a lost
   * fetcher, a clear `InvalidStateError` for what lazy mode does not support, else `e`.
   */
  translate(e: unknown): unknown {
    const message = e instanceof Error ? e.message : ''
    if (message.startsWith('STRATA_UNSUPPORTED: ')) {
      const [what, why] = message.slice('STRATA_UNSUPPORTED: '.length).split(': ', 2)
      return new InvalidStateError({ operation: (what ?? 'this').replace(/ is not supported on a lazy branch$/, ''), reason: `not supported on a lazy branch: ${why ?? ''}` }, { cause: e })
    }
    const code = (e as { code?: unknown }).code
    const io = typeof code === 'string' && code.startsWith('SQLITE_IOERR')
    if (!io && !message.startsWith('STRATA_FETCH_FAILED')) return e
    const last = this.control.lastError(this.id) ?? message
    const m = /page (\d+)/.exec(last)
    const page = m ? Number(m[1]) : null
    const failure = this.thread.takeFailure(this.id, page)
    if (failure) return revive(failure.error, e)
    const where = page !== null && page <= this.table.pageCount ? locatePage(this.table, page as PageNo) : null
    const key = where ? segmentKey(where.level.manifest.segments[where.segment]!.id) : ''
    const snapshot = where ? where.level.id : this.table.snapshot
    const why = last.startsWith('timeout') ? `${last.replace(/^timeout: /, '')} (snapshot ${snapshot})` : `${last} (snapshot ${snapshot})`
    return new StoreError({ operation: `read page ${page ?? '?'} of`, key, store: this.storeUrl, retryable: true }, { cause: Object.assign(new Error(why), { sqlite: e }) })
  }

  /**
   * Fetch the pages of `pages` the file lacks into it, in one batch (ranged reads in parallel),
   * so that reading them afterwards — from the file or through SQLite — blocks on nothing.
   * Throws the Strata error a fetch failed with.
   */
  async prefetch(pages: readonly number[]): Promise<void> {
    try {
      await this.thread.prefetch(this.id, pages)
    } catch (e) {
      const wire = (e as { wire?: WireError }).wire
      throw wire ? revive(wire, undefined) : e
    }
  }

  /** Stop serving the file and forget it. The caller closed every connection to it first. */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    this.control.unregister(this.id)
    await this.thread.close(this.id)
  }
}

/** Turn an error that crossed threads back into the Strata error it was. */
function revive(w: WireError, cause: unknown): Error {
  const C = (core as Record<string, unknown>)[w.name]
  let err: Error
  if (w.code?.startsWith('STRATA_') && typeof C === 'function') {
    err = Object.create((C as { prototype: object }).prototype) as Error
    Object.defineProperty(err, 'message', { value: w.message, writable: true, configurable: true })
    Object.assign(err, { name: w.name, code: w.code, data: w.data ?? {} })
  } else {
    err = new Error(w.message)
    err.name = w.name
  }
  if (w.stack) err.stack = w.stack
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true })
  return err
}

/** Why lazy mode cannot serve `table`, or the recipes of its stores. */
export function lazyPlan(table: ResolvedTable, opts: LazyOptions): { recipes: StoreRecipe[]; storeOf: number[] } | { unavailable: string } {
  const control = vfsControl()
  if ('unavailable' in control) return control
  const recipes: StoreRecipe[] = []
  const byStore = new Map<string, number>()
  const storeOf: number[] = []
  for (const level of table.levels) {
    let i = byStore.get(level.store.id)
    if (i === undefined) {
      const r = (opts.storeRecipe ?? recipeOf)(level.store.store)
      if (!r) return { unavailable: `the store ${level.store.store.url} cannot be opened by the page fetcher thread (it has no threadRecipe())` }
      i = recipes.push(r) - 1
      byStore.set(level.store.id, i)
    }
    storeOf.push(i)
  }
  return { recipes, storeOf }
}

/** How long the VFS waits beyond the fetcher's own deadline before giving up on it. */
const VFS_GRACE_MS = 2000

/**
 * Create the sparse working file of `table` in `dir`, register it with the VFS, have the fetcher
 * serve it (page 1 and the open window are fetched before this returns, page 1 with header bytes
 * 18/19 set to `localFormat`, default WAL; `firstPages`, already verified, are written in rather
 * than fetched) and open it with `openDb`. Writes no page but those.
 * On failure nothing is left behind.
 */
export async function openLazyFile(
  target: Target,
  table: ResolvedTable,
  plan: { recipes: StoreRecipe[]; storeOf: number[] },
  dir: string,
  storeUrl: string,
  opts: LazyOptions & { concurrency: number; maxRunBytes: number; localFormat?: { write: number; read: number }; firstPages?: FirstPages | null },
  openDb: (path: string, lazy: LazyFile) => LiveDatabase | null,
): Promise<{ db: LiveDatabase | null; lazy: LazyFile; storedFormat: { write: number; read: number } }> {
  const control = vfsControl() as VfsControl
  const thread = await fetcherThread(control.path, ENTRY_POINT)
  await mkdir(dir, { recursive: true })
  const stem = target.branch ? encodeName(target.branch) : target.snapshot
  const path = join(dir, `${stem}.${randomBytes(6).toString('hex')}.sqlite`)
  const fd = openSync(path, 'wx')
  try {
    ftruncateSync(fd, table.pageCount * table.pageSize)
  } finally {
    closeSync(fd)
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LAZY_TIMEOUT_MS
  const id = randomInt(1, 2 ** 31)
  let lazy: LazyFile | null = null
  try {
    const full = control.register(path, id, table.pageSize, table.pageCount, thread.socketPath, timeoutMs + VFS_GRACE_MS)
    lazy = new LazyFile(id, full, table, storeUrl, control, thread)
    const maxWindow = Math.max(1, opts.maxWindow ?? Math.floor(opts.maxRunBytes / table.pageSize))
    const spec: OpenFile = {
      type: 'open',
      id,
      snapshot: table.snapshot,
      pageSize: table.pageSize,
      pageCount: table.pageCount,
      table: {
        levels: table.levels.map((l, i): WireLevel => ({
          id: l.id,
          store: plan.storeOf[i]!,
          segments: l.manifest.segments.map((s) => s.id),
          pages: { pageNos: l.manifest.pages.pageNos, segments: l.manifest.pages.segments, slots: l.manifest.pages.slots, hashes: l.manifest.pages.hashes },
        })),
        level: table.level,
        entry: table.entry,
      },
      stores: plan.recipes,
      localFormat: opts.localFormat ?? { write: 2, read: 2 },
      openPages: Math.max(1, opts.openPages ?? HINTED_PAGES),
      preloaded: opts.firstPages ? { pages: opts.firstPages.pages, body: opts.firstPages.body, storeBytes: opts.firstPages.storeBytes, requests: opts.firstPages.requests } : null,
      prefetchChildren: Math.max(0, opts.prefetchChildren ?? 32),
      minWindow: Math.max(1, Math.min(opts.minWindow ?? 8, maxWindow)),
      maxWindow,
      concurrency: opts.concurrency,
      timeoutMs,
      background: opts.background ?? false,
    }
    const l = lazy
    let storedFormat: { write: number; read: number }
    try {
      storedFormat = await thread.open(spec, (error) => l.onHydrated(error))
    } catch (e) {
      const wire = (e as { wire?: WireError }).wire
      throw wire ? revive(wire, undefined) : e
    }
    const db = openDb(path, lazy)
    return { db, lazy, storedFormat }
  } catch (e) {
    if (lazy) await lazy.release()
    else control.unregister(id)
    await removeWorkingFile(path)
    throw e
  }
}
