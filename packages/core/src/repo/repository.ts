import { randomUUID } from 'node:crypto'
import { RepositoryExistsError, StoreError, UnsafeStoreError, isStrataError } from '../errors/index.js'
import type { HoldRecord } from '../format/hold-record.js'
import type { SnapshotId } from '../format/ids.js'
import { FORMAT_KEY } from '../format/keys.js'
import type { SnapshotManifest } from '../format/manifest.js'
import { encodeStoreMarker } from '../format/store-marker.js'
import type { TagRecord } from '../format/tag-record.js'
import { probeCompareAndSwap } from '../store/doctor.js'
import type { ObjectStore } from '../store/object-store.js'
import { getBranch, listBranches, renameBranch, branchRecord, type BranchInfo, type CreateBranchOptions } from './branches/branches.js'
import { resolveTarget } from './branches/resolve-target.js'
import { createBranch, createBranchIn } from './cross-store/create-branch.js'
import { crossStoreDependencies, type CrossStoreDependency } from './cross-store/cross-store.js'
import { listPins, prunePins, removePins, type PinInfo, type PinSelector, type PrunePinsOptions, type PrunePinsResult } from './cross-store/pins.js'
import { repoint, type RepointResult } from './cross-store/repoint.js'
import { diffPages, type PageDiff } from './history/diff-pages.js'
import { historyOf, type LogEntry, type LogOptions } from './history/log.js'
import { pageMap, type PageRange } from './history/page-map.js'
import { show, type SnapshotSummary } from './history/show.js'
import { createTag, deleteTag, getTag, listTags, type CreateTagOptions } from './history/tags.js'
import { compact, type CompactOptions, type CompactResult } from './lifecycle/compact.js'
import { deleteBranch, type DeleteBranchOptions, type DeleteBranchResult } from './lifecycle/delete-branch.js'
import { gc, type GcOptions, type GcResult } from './lifecycle/gc.js'
import { stats, type StatsOptions, type StatsResult } from './lifecycle/stats.js'
import { verify, type VerifyOptions, type VerifyResult } from './lifecycle/verify.js'
import { upgradeStore, type UpgradeResult } from './lifecycle/upgrade.js'
import { whyAlive, type WhyAliveOptions, type WhyAliveResult } from './lifecycle/why-alive.js'
import { hold, listHolds, unhold, type HoldOptions } from './reachability/holds.js'
import type { Keyed } from './reachability/roots.js'
import type { ChainLoader, ResolvedTable, Target } from './read/chain.js'
import { createContext, openContext, type RepoContext, type RepoSettings, type RepositoryOptions } from './read/context.js'
import { exportSnapshot, exportToSink, readDatabase, type ByteSink, type ExportOptions, type ExportResult, type StreamExportResult } from './read/export-snapshot.js'
import type { AllowlistResolver } from './read/fallback-stores.js'
import type { OperationOptions } from './read/progress.js'
import { readPage } from './read/read-page.js'
import { resolveBranch, type ResolveBranchOptions, type ResolvedBranch } from './branches/resolve-branch.js'
import { commitWithRetry, type CommitWithRetryOptions, type CommitWithRetryResult } from './write/commit-with-retry.js'
import { commit, type CommitOptions, type CommitResult } from './write/commit.js'
import { importDatabase, type ImportOptions, type ImportResult } from './write/import-database.js'
import { materialize, type MaterializeOptions, type MaterializeResult } from './write/materialize.js'
import { reset, type ResetOptions } from './write/reset.js'

export type { RepositoryOptions } from './read/context.js'

/**
 * A Strata repository in one store: branches, snapshots and the operations on them.
 *
 * Open one with {@link Repository.open} (or create it with {@link Repository.init}). Every
 * mutation follows the same order — segments, then the manifest, then a compare-and-swap of the
 * ref — so a crash at any point leaves every ref at a complete snapshot. Each method delegates
 * to an operation that takes the repository's {@link RepoContext}.
 */
export class Repository {
  /** What every operation works with; built once when the repository is opened. */
  readonly ctx: RepoContext

  private constructor(ctx: RepoContext) {
    this.ctx = ctx
  }

  get store(): ObjectStore {
    return this.ctx.store
  }

  /** The store's identity (UUID). */
  get storeId(): string {
    return this.ctx.storeId
  }

  /** The settings, every default filled in. */
  get options(): RepoSettings {
    return this.ctx.settings
  }

  /** Loads manifests and resolves chains (cached). */
  get chains(): ChainLoader {
    return this.ctx.chains
  }

  /** The allowlist that opens other stores for cross-store fallbacks (null with a custom `fallbackStores`, or none allowed). */
  get allowlist(): AllowlistResolver | null {
    return this.ctx.allowlist
  }

  /**
   * Create a repository in an empty store: writes the format marker (create-only).
   * `RepositoryExistsError` if the store already holds one. First probes that the store enforces
   * conditional writes (see `probeCompareAndSwap`; its scratch objects are removed again) and
   * refuses one that does not with `UnsafeStoreError`, unless `unsafeNoCas` is set. The probe runs
   * at init only; `probeStore` (`strata doctor`) checks a store at any time.
   */
  static async init(store: ObjectStore, options: RepositoryOptions = {}): Promise<Repository> {
    const storeId = randomUUID()
    const now = (options.now ?? (() => new Date()))()
    if (!options.unsafeNoCas && !(await store.head(FORMAT_KEY))) {
      const cas = await probeCompareAndSwap(store, undefined, { throwErrors: true })
      if (!cas.ok) throw new UnsafeStoreError({ store: store.url, createOnly: cas.createOnly, replaceIfVersion: cas.replaceIfVersion })
    }
    try {
      await store.put(FORMAT_KEY, encodeStoreMarker({ storeId, createdAt: now.toISOString() }), { ifNoneMatch: '*' })
    } catch (e) {
      if (isStrataError(e, 'STRATA_CONFLICT')) {
        const existing = await Repository.open(store, options)
        throw new RepositoryExistsError({ store: store.url, storeId: existing.storeId })
      }
      throw e
    }
    return new Repository(createContext(store, storeId, options))
  }

  /**
   * Open the repository in `store`. `NotARepositoryError` if it has no format marker,
   * `UnsupportedFormatError` if it was written by a newer, incompatible format. A store of an
   * older format this build reads opens read-only: writes throw `UpgradeRequiredError` until
   * {@link Repository.upgrade}.
   */
  static async open(store: ObjectStore, options: RepositoryOptions = {}): Promise<Repository> {
    return new Repository(await openContext(store, options))
  }

  /**
   * Upgrade the repository in `store` to the current format in place (idempotent, safe to stop
   * and run again; see `upgradeStore`). A store of an older format opens read-only until then.
   */
  static upgrade(store: ObjectStore, opts: OperationOptions = {}): Promise<UpgradeResult> {
    return upgradeStore(store, opts)
  }

  /**
   * Create branch `name` in the repository in `store` without opening it first: from a branch of
   * that store whose ref proves the store's format, the format marker is not read (one request
   * fewer, for a process that opens a store only to create a branch); anything else opens the
   * repository and creates as {@link Repository.createBranch} does (see `createBranchIn`).
   */
  static createBranchIn(store: ObjectStore, name: string, opts: CreateBranchOptions = {}, options: RepositoryOptions = {}): Promise<BranchInfo> {
    return createBranchIn(store, name, opts, options)
  }

  /** Open the repository in `store`, creating it if the store holds none. */
  static async openOrInit(store: ObjectStore, options: RepositoryOptions = {}): Promise<Repository> {
    try {
      return await Repository.open(store, options)
    } catch (e) {
      if (!isStrataError(e, 'STRATA_NOT_A_REPOSITORY')) throw e
      try {
        return await Repository.init(store, options)
      } catch (e2) {
        if (isStrataError(e2, 'STRATA_REPOSITORY_EXISTS')) return Repository.open(store, options)
        throw e2
      }
    }
  }

  /** Current time as ISO-8601 (through the configurable clock). */
  nowIso(): string {
    return this.ctx.now().toISOString()
  }

  // ---- branches ---------------------------------------------------------------------------

  /**
   * Import a SQLite file as a standalone root snapshot on a new branch (default `main`).
   * The file is validated first (magic, page size, size vs page count, no hot journal or WAL);
   * anything else is refused with `InvalidDatabaseError` and nothing is written.
   */
  importDatabase(path: string, opts: ImportOptions = {}): Promise<ImportResult> {
    return importDatabase(this.ctx, path, opts)
  }

  /** Create branch `name` stacked on `from` (default `main`), in this store or another (see `createBranch`). */
  createBranch(name: string, opts: CreateBranchOptions = {}): Promise<BranchInfo> {
    return createBranch(this.ctx, name, opts)
  }

  /** The branch named `name`; `BranchNotFoundError` if there is none. */
  getBranch(name: string): Promise<BranchInfo> {
    return getBranch(this.ctx, name)
  }

  /** Every branch, sorted by name. */
  listBranches(): Promise<BranchInfo[]> {
    return listBranches(this.ctx)
  }

  /** Rename a branch; `main` cannot be renamed (see `renameBranch`). */
  renameBranch(from: string, to: string): Promise<BranchInfo> {
    return renameBranch(this.ctx, from, to)
  }

  /**
   * Delete branch `name`: its ref goes and the name is free at once. Snapshots other branches
   * stack on stay readable; what nothing references any more is garbage for gc. `main` and held
   * branches cannot be deleted. `detachChildren` materializes the branches stacked on it first
   * (see `deleteBranch`).
   */
  deleteBranch(name: string, opts: DeleteBranchOptions = {}): Promise<DeleteBranchResult> {
    return deleteBranch(this.ctx, name, opts)
  }

  /** The record of the branch a ref points at (null if it is gone: the store is damaged). */
  branchRecord(ref: Parameters<typeof branchRecord>[1]): ReturnType<typeof branchRecord> {
    return branchRecord(this.ctx, ref)
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** Resolve a branch, tag or snapshot spec to a snapshot (see `resolveTarget`). */
  resolveTarget(spec: string): Promise<Target> {
    return resolveTarget(this.ctx, spec)
  }

  /** The manifest of snapshot `id`. */
  snapshot(id: SnapshotId): Promise<SnapshotManifest> {
    return this.ctx.chains.manifest(id)
  }

  /** Resolve every page of snapshot `id` down its chain (see `ChainLoader.resolve`). */
  resolve(id: SnapshotId, branch: string | null = null): Promise<ResolvedTable> {
    return this.ctx.chains.resolve(id, { branch })
  }

  /**
   * Resolve branch `name`'s head for reading (see `resolveBranch`): its ref, then its resolved
   * table; with `firstPages`, also the first pages its ref's hint names, fetched in parallel with
   * the manifests and verified against the table (null when there is no usable hint).
   */
  resolveBranch(name: string, opts: ResolveBranchOptions = {}): Promise<ResolvedBranch> {
    return resolveBranch(this.ctx, name, opts)
  }

  /** Read page `p` of a branch or snapshot, verified against its hash (see `readPage`). */
  async readPage(spec: string, p: number): Promise<Uint8Array> {
    return readPage(this.ctx, await this.resolveTarget(spec), p)
  }

  /** Commit page writes and/or a new page count to a branch (see {@link CommitOptions}). */
  commit(branch: string, opts: CommitOptions): Promise<CommitResult> {
    return commit(this.ctx, branch, opts)
  }

  /**
   * Commit like {@link commit}, rebasing onto concurrent commits that touched other pages and
   * retrying; overlapping changes fail with `ConflictError` listing the pages (see `commitWithRetry`).
   */
  commitWithRetry(branch: string, opts: CommitWithRetryOptions): Promise<CommitWithRetryResult> {
    return commitWithRetry(this.ctx, branch, opts)
  }

  /**
   * Flatten a branch into a standalone snapshot (no fallback) and move the branch to it: by
   * reference to the segments that already hold its pages (default), or as a full copy with
   * `copy` (see `materialize`).
   */
  materialize(branch: string, opts: MaterializeOptions = {}): Promise<MaterializeResult> {
    return materialize(this.ctx, branch, opts)
  }

  /** Write a branch or snapshot to a plain `.sqlite` file. */
  async export(spec: string, outPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
    return exportSnapshot(this.ctx, await this.resolveTarget(spec), outPath, opts)
  }

  /**
   * Stream a branch or snapshot to `write` as the bytes of a plain `.sqlite` file, in page order
   * (see `exportToSink`: bytes handed over before a failure must be discarded).
   */
  async exportStream(spec: string, write: ByteSink, opts: OperationOptions = {}): Promise<StreamExportResult> {
    return exportToSink(this.ctx, await this.resolveTarget(spec), write, opts)
  }

  /**
   * The whole database of a branch or snapshot as bytes, verified like an export. Holds it in
   * memory: prefer `export` for large databases.
   */
  async readDatabase(spec: string, opts: OperationOptions = {}): Promise<Uint8Array> {
    return readDatabase(this.ctx, await this.resolveTarget(spec), opts)
  }

  /** The history of a branch (or of the snapshot a spec names), newest first. */
  async log(spec: string, opts: LogOptions = {}): Promise<LogEntry[]> {
    return historyOf(this.ctx, (await this.resolveTarget(spec)).snapshot, opts)
  }

  /**
   * Point a branch back at an earlier snapshot of its history (see `reset` for the contract):
   * `to` is a snapshot id or unique prefix.
   */
  async reset(branch: string, to: string, opts: ResetOptions = {}): Promise<CommitResult> {
    return reset(this.ctx, branch, (await this.resolveTarget(to)).snapshot, opts)
  }

  /** Which pages differ between two branches or snapshots, from page tables alone. */
  diffPages(a: string, b: string): Promise<PageDiff> {
    return diffPages(this.ctx, a, b)
  }

  /** Which snapshot and store serve each page range of a branch or snapshot. */
  pageMap(spec: string): Promise<{ target: Target; pageCount: number; ranges: PageRange[] }> {
    return pageMap(this.ctx, spec)
  }

  /** Describe a branch's head or a snapshot: sizes, own pages, chain, metadata. */
  show(spec: string): Promise<SnapshotSummary> {
    return show(this.ctx, spec)
  }

  // ---- tags --------------------------------------------------------------------------------

  /** Tag the snapshot a branch, tag or snapshot spec names; create-only (see `createTag`). */
  createTag(name: string, spec: string, opts: CreateTagOptions = {}): Promise<TagRecord> {
    return createTag(this.ctx, name, spec, opts)
  }

  /** The tag named `name`, or null. */
  getTag(name: string): Promise<TagRecord | null> {
    return getTag(this.ctx, name)
  }

  /** Every tag, sorted by name. */
  listTags(): Promise<TagRecord[]> {
    return listTags(this.ctx)
  }

  /** Delete a tag and return it; `TagNotFoundError` if there is none (see `deleteTag`). */
  deleteTag(name: string): Promise<TagRecord> {
    return deleteTag(this.ctx, name)
  }

  // ---- other stores ------------------------------------------------------------------------

  /** The other stores this repository stacks on and what it needs there (see `crossStoreDependencies`). */
  crossStoreDependencies(opts: { check?: boolean } = {}): Promise<CrossStoreDependency[]> {
    return crossStoreDependencies(this.ctx, opts)
  }

  /** Move a base store's location after checking identity and checksums (see `repoint`). */
  repoint(oldUrl: string, newUrl: string): Promise<RepointResult> {
    return repoint(this.ctx, oldUrl, newUrl)
  }

  /** Pins other stores hold in this one (see `listPins`). */
  listPins(): Promise<PinInfo[]> {
    return listPins(this.ctx)
  }

  /** Remove pins of this store by dependent store and/or snapshot (see `removePins`). */
  removePins(selector: PinSelector): Promise<PinInfo[]> {
    return removePins(this.ctx, selector)
  }

  /** Remove the pins this store holds in its base stores that it no longer needs (see `prunePins`). */
  prunePins(opts: PrunePinsOptions = {}): Promise<PrunePinsResult> {
    return prunePins(this.ctx, opts)
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Collect garbage: see `gc` for roots, retention, grace and the safety argument. */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return gc(this.ctx, opts)
  }

  /** Check that every branch is fully readable, collecting every problem (see `verify`). */
  verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    return verify(this.ctx, opts)
  }

  /** Per-branch and store-wide sizes as gc sees them (see `stats`). */
  stats(opts: StatsOptions = {}): Promise<StatsResult> {
    return stats(this.ctx, opts)
  }

  /** The roots that keep a snapshot or segment alive, with paths (see `whyAlive`). */
  whyAlive(spec: string, opts: WhyAliveOptions = {}): Promise<WhyAliveResult> {
    return whyAlive(this.ctx, spec, opts)
  }

  /** Rewrite mostly-dead or small segments of `branch`'s head, or of every head (see `compact`). */
  compact(branch?: string, opts: CompactOptions = {}): Promise<CompactResult> {
    return compact(this.ctx, branch, opts)
  }

  /** Hold a branch or snapshot so gc keeps it regardless of retention and expiry (see `hold`). */
  hold(spec: string, opts: HoldOptions = {}): Promise<Keyed<HoldRecord>> {
    return hold(this.ctx, spec, opts)
  }

  /** Remove the hold on a branch or snapshot; null if it held nothing (see `unhold`). */
  unhold(spec: string): Promise<Keyed<HoldRecord> | null> {
    return unhold(this.ctx, spec)
  }

  /** Every hold, sorted by key. */
  listHolds(): Promise<Keyed<HoldRecord>[]> {
    return listHolds(this.ctx)
  }

  /** Release the store's resources. */
  async close(): Promise<void> {
    await this.ctx.allowlist?.close()
    await this.ctx.store.close?.()
  }
}
