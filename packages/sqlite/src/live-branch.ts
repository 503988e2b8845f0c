import { InvalidArgumentError, isStrataError, type OperationOptions, type PageNo, type Repository, type SnapshotId } from '@strata/core'
import { fetchPages } from '@strata/core/engine'
import { defaultCacheRoot, workingDirectory } from './cache-dir.js'
import type { CapturedChanges, ChangeTracker, ChangeTrackerFactory } from './change-tracker.js'
import { InvalidStateError, UncommittedChangesError } from './errors/index.js'
import { FileWorkingDatabase, hydrateFile, openWal } from './file-working-database.js'
import { DEFAULT_LAZY_TIMEOUT_MS, lazyPlan, openLazyFile, type LazyOptions, type LazyStats } from './lazy/lazy-file.js'
import { prewarmLazy } from './lazy/prewarm.js'
import { translateErrors } from './lazy/translate-errors.js'
import { LiveBranches, type OverwriteOptions, type SwitchOptions, type SwitchResult } from './live-branches.js'
import type { LiveCommitOptions, LiveCommitResult } from './live-commit.js'
import { hydrateMemory } from './memory-working-database.js'
import { PageHashes } from './page-hashes.js'
import { repositoryWithCache, type SegmentCacheOption } from './segment-cache.js'
import type { LiveDatabase } from './sqlite-types.js'
import { walTracker } from './wal-tracker.js'
import { fullScanTracker } from './full-scan-tracker.js'
import type { LiveMode, WorkingDatabase } from './working-database.js'

/**
 * A switch patches the working file in place when the pages to rewrite take at most this many
 * bytes (they are fetched into memory first) and at most half the target; beyond that it
 * hydrates the target afresh.
 */
const MAX_PATCH_BYTES = 64 * 1024 * 1024

/** Options of {@link openBranch}. */
export interface OpenBranchOptions extends OperationOptions {
  /**
   * `file` (default): hydrate into a working file under {@link cacheDir} — streamed, so the
   * database may be larger than memory. `memory`: read the whole database into memory and
   * deserialize it. `lazy`: a sparse working file whose pages are fetched when SQLite first
   * reads them (the `@strata/vfs` extension); where the extension is not built or a store cannot
   * be opened by its fetcher thread, the handle falls back to `file` with a one-line warning.
   */
  mode?: LiveMode
  /** Lazy mode's settings (deadline, read-ahead, background hydration). */
  lazy?: LazyOptions
  /** Where the one-line warning of a lazy open falling back to `file` goes. Default: stderr, once per process. */
  onWarning?: (message: string) => void
  /**
   * Root directory of working files (file mode). Files go to `<cacheDir>/<storeId>/`. Default:
   * `$XDG_CACHE_HOME/strata` if set, else `<os temp dir>/strata`.
   */
  cacheDir?: string
  /**
   * How changes are found at commit time. Default: `walTracker` — the changed pages are read
   * from the working file's WAL; a full scan where the WAL cannot be trusted and in memory mode.
   */
  changeTracker?: ChangeTrackerFactory
  /**
   * A local disk cache of segments and manifests (immutable, so never stale) in front of the
   * store, shared by every branch, handle and process using the same directory: switching
   * between branches that share ancestry downloads only what differs. Default: on for stores
   * that are not local directories, in `<cacheDir>/segments`; `false` turns it off, an object
   * sets `dir` and `maxBytes` (default 1 GiB). See {@link repositoryWithCache}.
   */
  segmentCache?: SegmentCacheOption
}

/** Options of {@link LiveBranch.close}. */
export interface CloseOptions extends LiveCommitOptions {
  /**
   * What to do with uncommitted changes: `commit` them (with this object's message, author and
   * tags) or `discard` them. Required when there are any: without it, closing a handle with
   * uncommitted changes throws `UncommittedChangesError` and leaves the handle open.
   */
  uncommitted?: 'commit' | 'discard'
}

/** Everything a hydrated branch consists of. */
interface Hydrated {
  branch: string
  head: SnapshotId
  /** The snapshot the branch's commits stack on. */
  base: SnapshotId
  working: WorkingDatabase
  committed: PageHashes
}

/**
 * Open branch `branch` of `repo` as a live better-sqlite3 database (see {@link LiveBranch}).
 * Throws `BranchNotFoundError` for an unknown branch; damage in the store surfaces as core's
 * errors (`MissingPageError`, `CorruptPageError`, …) and leaves nothing behind.
 */
export function openBranch(repo: Repository, branch: string, opts: OpenBranchOptions = {}): Promise<LiveBranch> {
  return LiveBranch.open(repo, branch, opts)
}

/**
 * A branch open as a live better-sqlite3 database: run SQL on {@link db}, {@link commit} the
 * changed pages as a new snapshot, switch or promote branches through {@link branches}, and
 * {@link close} with an explicit decision about uncommitted work.
 *
 * Commits compare the database with the head it was hydrated from (or last committed) and hand
 * only the pages that differ to the core commit, with compare-and-swap on that head: a
 * concurrent writer makes the commit fail with `ConflictError`, never lose an update. Operations
 * on one handle run one at a time, in call order. Neither the handle nor its database may be
 * shared between threads.
 */
export class LiveBranch {
  /**
   * The repository the handle works through: the one passed to {@link openBranch}, or — with
   * the segment cache on — the same repository reading through that cache.
   */
  readonly repo: Repository
  readonly #mode: LiveMode
  /** The branches facade: current, list, create, switch, delete, overwrite. */
  readonly branches: LiveBranches

  readonly #dir: string
  readonly #lazy: LazyOptions
  readonly #warn: (message: string) => void
  readonly #trackerFactory: ChangeTrackerFactory
  #state: (Hydrated & { tracker: ChangeTracker }) | null = null
  #closed = false
  #tail: Promise<unknown> = Promise.resolve()

  /** The same as {@link openBranch}. */
  static async open(repo: Repository, branch: string, opts: OpenBranchOptions = {}): Promise<LiveBranch> {
    const mode = opts.mode ?? 'file'
    if (mode !== 'file' && mode !== 'memory' && mode !== 'lazy') throw new InvalidArgumentError({ argument: 'mode', reason: `${String(mode)} is not "file", "memory" or "lazy"` })
    const root = opts.cacheDir ?? defaultCacheRoot()
    const dir = workingDirectory(root, repo.storeId)
    const data = await repositoryWithCache(repo, opts.segmentCache, root)
    // The fetcher thread starts while the branch is resolved (a cold start is most of an open).
    if (mode === 'lazy') prewarmLazy()
    const handle = new LiveBranch(data, mode, dir, opts.changeTracker ?? walTracker, opts.lazy ?? {}, opts.onWarning ?? warnOnce)
    await handle.#install(await handle.#hydrate(branch, opts))
    return handle
  }

  private constructor(repo: Repository, mode: LiveMode, dir: string, trackerFactory: ChangeTrackerFactory, lazy: LazyOptions, warn: (message: string) => void) {
    this.repo = repo
    this.#mode = mode
    this.#dir = dir
    this.#lazy = lazy
    this.#warn = warn
    this.#trackerFactory = trackerFactory
    this.branches = new LiveBranches({
      repo,
      current: () => this.current,
      assertOpen: (op) => void this.#live(op),
      exclusive: (fn) => this.#exclusive(fn),
      switchTo: (name, opts) => this.#exclusive(() => this.#switchTo(name, opts)),
      overwrite: (target, opts) => this.#exclusive(() => this.#overwrite(target, opts)),
    })
  }

  /** The better-sqlite3 database. A switch replaces it (and closes the previous one). */
  get db(): LiveDatabase {
    return this.#live('use the database').working.db
  }

  /**
   * Where the working database lives: `file`, `memory`, or `lazy` (a sparse file filled on
   * demand). A lazy open that fell back to a full working file says `file`.
   */
  get mode(): LiveMode {
    const working = this.#state?.working
    if (!working) return this.#mode
    return working instanceof FileWorkingDatabase && working.lazy ? 'lazy' : working.mode
  }

  /**
   * What lazy reads cost so far on the open database (pages fetched, bytes read from the store,
   * reads that waited), or null when the database is not lazy. Counts restart when a switch
   * opens another file.
   */
  lazyStats(): LazyStats | null {
    const working = this.#live('read lazy statistics').working
    return working instanceof FileWorkingDatabase && working.lazy ? working.lazy.stats() : null
  }

  /** The name of the branch open in this handle. */
  get current(): string {
    return this.#live('read the current branch').branch
  }

  /** The snapshot the database was hydrated from or last committed as. */
  get head(): SnapshotId {
    return this.#live('read the head').head
  }

  /** The working file (file mode), or null (memory mode). */
  get path(): string | null {
    return this.#live('read the working path').working.path
  }

  /** True once {@link close} has completed. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Commit the database's changes since {@link head} as a new snapshot of the current branch.
   * Only pages that differ from the head are handed to the core commit, which stores the
   * branch's delta against its base. Nothing changed → no snapshot and `changed: false`.
   * Throws `ConflictError` if the branch moved since {@link head} (the changes stay uncommitted),
   * `InvalidStateError` while a SQL transaction is open.
   */
  async commit(opts: LiveCommitOptions = {}): Promise<LiveCommitResult> {
    this.#live('commit')
    return this.#exclusive(() => this.#commitNow(opts))
  }

  /**
   * True if the database differs from {@link head}. The WAL tracker reads the WAL's pages; the
   * full-scan tracker reads and hashes pages until the first difference (the whole database when
   * nothing changed).
   */
  async hasUncommittedChanges(): Promise<boolean> {
    this.#live('check for changes')
    return this.#exclusive(async () => this.#live('check for changes').tracker.hasChanges())
  }

  /**
   * Close the handle: commit or discard uncommitted changes as `uncommitted` says, close the
   * database and remove the working file. With uncommitted changes and no `uncommitted` option
   * it throws `UncommittedChangesError` and the handle stays open. Returns the commit's result
   * when it committed something, else null. Closing a closed handle does nothing.
   */
  async close(opts: CloseOptions = {}): Promise<LiveCommitResult | null> {
    if (this.#closed) return null
    return this.#exclusive(async () => {
      if (this.#closed) return null
      const state = this.#live('close')
      let result: LiveCommitResult | null = null
      if (opts.uncommitted === 'commit') result = await this.#commitNow(opts)
      else if (opts.uncommitted === undefined && state.tracker.hasChanges()) {
        throw new UncommittedChangesError({ branch: state.branch, operation: 'closing the handle' })
      } else if (opts.uncommitted !== undefined && opts.uncommitted !== 'discard') {
        throw new InvalidArgumentError({ argument: 'uncommitted', reason: `${String(opts.uncommitted)} is neither "commit" nor "discard"` })
      }
      state.tracker.dispose()
      await state.working.dispose()
      this.#state = null
      this.#closed = true
      return result && result.changed ? result : null
    })
  }

  /**
   * Lend the working file to another program (file mode only): the connection is checkpointed
   * and closed and page 1 carries the stored journal-mode bytes, so `use(path)` — typically a
   * child process opening the file with any SQLite library — sees exactly the branch's current
   * content, uncommitted changes included. When `use` settles, the file is taken back whatever
   * the program left: a hot journal is rolled back, a WAL recovered and checkpointed, a changed
   * journal mode kept out of the stored bytes (the header rule), and {@link db} is a new
   * connection. The next commit reads the whole file (the program's writes are in no WAL the
   * handle followed). Other operations on the handle wait until the file is back.
   *
   * Throws `InvalidStateError` in memory mode, while a SQL transaction is open, or if the file
   * cannot be taken back (removed, no longer a database SQLite can open, still held open by
   * another process): the handle is then closed and its working file removed, and nothing the
   * program did can be committed. `use`'s own error is rethrown after the file is taken back.
   */
  async lend<T>(use: (path: string) => Promise<T>): Promise<T> {
    const operation = 'lend the working file'
    this.#live(operation)
    return this.#exclusive(async () => {
      const state = this.#live(operation)
      const working = state.working
      if (!(working instanceof FileWorkingDatabase)) {
        throw new InvalidStateError({ operation, reason: 'a handle in memory mode has no working file; open the branch with mode "file"' })
      }
      const path = working.release()
      if (state.tracker.forget) state.tracker.forget('the working file was lent to another program')
      else {
        // A tracker that cannot be told would trust a stale record: an exact full scan replaces it.
        state.tracker.dispose()
        state.tracker = fullScanTracker({ working, committed: () => state.committed })
      }
      let result: T
      try {
        result = await use(path)
      } finally {
        try {
          working.reclaim()
        } catch (e) {
          state.tracker.dispose()
          await working.dispose()
          this.#state = null
          this.#closed = true
          // The file is lost: that outranks whatever `use` itself did.
          throw e
        }
      }
      return result
    })
  }

  // ---- internals ---------------------------------------------------------------------------

  #live(operation: string): Hydrated & { tracker: ChangeTracker } {
    if (this.#closed || !this.#state) throw new InvalidStateError({ operation, reason: 'the live branch handle is closed' })
    return this.#state
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => {})
    return run
  }

  async #hydrate(branch: string, opts: OperationOptions): Promise<Hydrated> {
    // Lazily, the first pages come with the manifests (on the ref's hint): one round trip less
    // before the first query. The hinted fetch has the deadline of any lazy fetch; past it, the
    // fetcher thread reads those pages itself.
    const lazy = this.#mode === 'lazy'
    const info = await this.repo.resolveBranch(branch, lazy ? { firstPages: true, signal: AbortSignal.timeout(this.#lazy.timeoutMs ?? DEFAULT_LAZY_TIMEOUT_MS) } : {})
    const target = { snapshot: info.head, branch }
    const table = info.table
    const committed = PageHashes.fromResolved(table)
    let working: WorkingDatabase | null = null
    if (this.#mode === 'lazy') {
      const plan = lazyPlan(table, this.#lazy)
      if ('unavailable' in plan) this.#warn(`strata: lazy mode unavailable (${plan.unavailable}); reading the whole branch into a working file`)
      else {
        const { concurrency, maxRunBytes } = this.repo.options
        const { db, lazy, storedFormat } = await openLazyFile(target, table, plan, this.#dir, this.repo.store.url, { ...this.#lazy, concurrency, maxRunBytes, firstPages: info.firstPages }, (path, lazy) => {
          const db = openWal(path)
          translateErrors(db, (e) => lazy.translate(e))
          return db
        })
        working = new FileWorkingDatabase(db!, lazy.path, table.pageSize, storedFormat, lazy)
      }
    }
    working ??= this.#mode === 'memory' ? await hydrateMemory(this.repo, target, opts) : await hydrateFile(this.repo, target, this.#dir, opts)
    return { branch, head: info.head, base: info.base, working, committed }
  }

  /** Make `h` the handle's state; on failure `h` is disposed and the previous state stays. */
  async #install(h: Hydrated): Promise<void> {
    const state = { ...h, tracker: null as unknown as ChangeTracker }
    try {
      state.tracker = this.#trackerFactory({ working: h.working, committed: () => state.committed })
    } catch (e) {
      await h.working.dispose()
      throw e
    }
    this.#state = state
  }

  /** Record that `changes`, compared with the committed state, are now committed as `head`. */
  #accept(changes: CapturedChanges, head: SnapshotId): void {
    const state = this.#live('commit')
    state.committed = state.committed.withChanges(changes.pageCount, changes.hashes)
    state.head = head
    state.tracker.committed(changes)
  }

  async #commitNow(opts: LiveCommitOptions): Promise<LiveCommitResult> {
    const state = this.#live('commit')
    const changes = state.tracker.capture()
    if (changes.writes.size === 0 && changes.pageCount === state.committed.pageCount) {
      // Nothing to store, so nothing can be lost: no round trip, no conflict check.
      return { ...(await this.#unchanged(state)), ...trackingOf(changes) }
    }
    const result = await this.repo.commit(state.branch, {
      writes: changes.writes,
      pageCount: changes.pageCount,
      expectedHead: state.head,
      ...commitFields(opts),
    })
    this.#accept(changes, result.snapshot)
    return { ...result, pagesChanged: changes.writes.size, ...trackingOf(changes) }
  }

  async #unchanged({ branch, head, base }: Hydrated): Promise<LiveCommitResult> {
    const m = await this.repo.snapshot(head)
    // A commit that changed nothing keeps the head, whose own pages are the branch's delta.
    const owns = head !== base
    return {
      changed: false,
      snapshot: head,
      previous: head,
      branch,
      pageCount: m.pageCount,
      ownPages: owns ? m.pages.pageNos.length : 0,
      pagesUploaded: 0,
      bytesWritten: 0,
      pagesChanged: 0,
      pagesScanned: 0,
    }
  }

  async #switchTo(name: string, opts: SwitchOptions): Promise<SwitchResult> {
    const state = this.#live('switch branches')
    const policy = opts.onUncommitted ?? 'refuse'
    if (policy !== 'refuse' && policy !== 'commit' && policy !== 'discard') {
      throw new InvalidArgumentError({ argument: 'onUncommitted', reason: `${String(policy)} is not "refuse", "commit" or "discard"` })
    }
    // Fail on an unknown target before touching the current branch.
    await this.repo.getBranch(name)
    let commit: LiveCommitResult | null = null
    if (policy === 'refuse' && state.tracker.hasChanges()) {
      throw new UncommittedChangesError({ branch: state.branch, operation: `switching to "${name}"` })
    }
    if (policy === 'commit') commit = await this.#commitNow(opts)
    const patched = await this.#patchTo(state, name, opts)
    if (patched) {
      state.tracker.dispose()
      const next = { ...patched, tracker: null as unknown as ChangeTracker }
      try {
        next.tracker = this.#trackerFactory({ working: patched.working, committed: () => next.committed })
      } catch (e) {
        // The file already holds the target: without a tracker the handle cannot go on.
        await patched.working.dispose()
        this.#state = null
        this.#closed = true
        throw e
      }
      this.#state = next
    } else {
      await this.#install(await this.#hydrate(name, opts))
      state.tracker.dispose()
      await state.working.dispose()
    }
    const next = this.#live('switch branches')
    return { branch: name, head: next.head, commit }
  }

  /**
   * Switch by difference: rewrite in the working file only the pages where the target differs
   * from the committed state (from page tables — manifests only) or where the working file has
   * uncommitted changes, fetched first. Null when that does not apply (memory mode, another page
   * size, too many pages, a connection that cannot be checkpointed): the caller hydrates afresh.
   */
  async #patchTo(state: Hydrated & { tracker: ChangeTracker }, name: string, opts: OperationOptions): Promise<Hydrated | null> {
    const working = state.working
    if (!(working instanceof FileWorkingDatabase) || working.lazy) return null
    const info = await this.repo.getBranch(name)
    const table = await this.repo.resolve(info.head, name)
    if (table.pageSize !== working.pageSize) return null
    const wanted = new Set(state.committed.differingPages(table))
    const dirty = dirtyPages(state.tracker, table.pageCount)
    if (!dirty) return null
    for (const p of dirty) wanted.add(p)
    if (wanted.size * table.pageSize > MAX_PATCH_BYTES || wanted.size > table.pageCount / 2) return null
    const pages = new Map<number, Uint8Array>()
    let loaded = 0
    await fetchPages(
      table,
      (p, page) => void pages.set(p, page.slice()),
      {
        concurrency: this.repo.options.concurrency,
        maxRunBytes: this.repo.options.maxRunBytes,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onPages: (n) => opts.onProgress?.({ phase: 'fetch', loaded: (loaded += n), total: wanted.size }),
      },
      [...wanted].sort((a, b) => a - b) as PageNo[],
    )
    // SQL may have run while the pages were fetched: what it changed must be rewritten too.
    const again = dirtyPages(state.tracker, table.pageCount)
    if (!again || again.some((p) => !wanted.has(p))) return null
    try {
      working.rewrite(pages, table.pageCount)
    } catch (e) {
      if (isStrataError(e, 'STRATA_INVALID_STATE')) return null
      throw e
    }
    return { branch: name, head: info.head, base: info.base, working, committed: PageHashes.fromResolved(table) }
  }

  async #overwrite(target: string, opts: OverwriteOptions): Promise<LiveCommitResult> {
    const state = this.#live('overwrite a branch')
    const info = await this.repo.getBranch(target)
    const expectedHead = opts.expectedHead ?? info.head
    const table = await this.repo.resolve(expectedHead, target)
    if (table.pageSize !== state.working.pageSize) {
      throw new InvalidArgumentError({ argument: 'target', reason: `branch "${target}" has ${table.pageSize}-byte pages, this database ${state.working.pageSize}-byte pages` })
    }
    const changes = state.tracker.capture(PageHashes.fromResolved(table))
    const result = await this.repo.commit(target, {
      writes: changes.writes,
      pageCount: changes.pageCount,
      expectedHead,
      operation: 'overwrite',
      ...commitFields(opts),
    })
    if (target === state.branch) {
      state.committed = PageHashes.fromResolved(table).withChanges(changes.pageCount, changes.hashes)
      state.head = result.snapshot
      state.tracker.committed(changes)
    }
    return { ...result, pagesChanged: changes.writes.size, ...trackingOf(changes) }
  }
}

/** The fields of a live commit's result that say how its changes were found. */
function trackingOf(c: CapturedChanges): Pick<LiveCommitResult, 'pagesScanned' | 'via' | 'fallback'> {
  const out: Pick<LiveCommitResult, 'pagesScanned' | 'via' | 'fallback'> = { pagesScanned: c.pagesScanned }
  if (c.via !== undefined) out.via = c.via
  if (c.fallback !== undefined) out.fallback = c.fallback
  return out
}

/**
 * The pages (up to `pageCount`) a working file must have rewritten to drop its uncommitted
 * changes: those that differ from the committed state, and those past its current end. Null if
 * the tracker cannot read the database now.
 */
function dirtyPages(tracker: ChangeTracker, pageCount: number): number[] | null {
  let changes: CapturedChanges
  try {
    changes = tracker.capture()
  } catch (e) {
    if (isStrataError(e, 'STRATA_INVALID_STATE')) return null
    throw e
  }
  const out = [...changes.writes.keys()].filter((p) => p <= pageCount)
  for (let p = changes.pageCount + 1; p <= pageCount; p++) out.push(p)
  return out
}

function commitFields(opts: LiveCommitOptions): LiveCommitOptions {
  const out: LiveCommitOptions = {}
  if (opts.message !== undefined) out.message = opts.message
  if (opts.author !== undefined) out.author = opts.author
  if (opts.tags !== undefined) out.tags = opts.tags
  if (opts.operation !== undefined) out.operation = opts.operation
  if (opts.merge !== undefined) out.merge = opts.merge
  if (opts.onProgress !== undefined) out.onProgress = opts.onProgress
  if (opts.signal !== undefined) out.signal = opts.signal
  return out
}

let warned = false

/** The default warning sink: one line on stderr, once per process. */
function warnOnce(message: string): void {
  if (warned) return
  warned = true
  process.stderr.write(`${message}\n`)
}
