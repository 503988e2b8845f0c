import { randomUUID } from 'node:crypto'
import pLimit from 'p-limit'
import {
  BranchNotFoundError,
  InvalidArgumentError,
  NotARepositoryError,
  ProtectedBranchError,
  RepositoryExistsError,
  SnapshotNotFoundError,
  StoreError,
  UnsafeStoreError,
  isStrataError,
} from '../errors/index.js'
import { encodeBranchRecord, decodeBranchRecord, type BranchRecord } from '../format/branch-record.js'
import { isSnapshotId, isSnapshotIdPrefix, newBranchId, type SnapshotId } from '../format/ids.js'
import { FORMAT_KEY, SNAPSHOTS_PREFIX, branchKey, refKey, snapshotKey, tagKey } from '../format/keys.js'
import type { SnapshotManifest } from '../format/manifest.js'
import { validateName } from '../format/names.js'
import type { PageNo } from '../format/page.js'
import type { Ref } from '../format/ref.js'
import { decodeStoreMarker, encodeStoreMarker } from '../format/store-marker.js'
import type { ObjectStore } from '../store/object-store.js'
import { ChainLoader, locatePage, shortId, type ChainLevel, type FallbackStoreResolver, type ResolvedTable, type StoreHandle } from './chain.js'
import { commit, type CommitOptions, type CommitResult } from './commit.js'
import { commitWithRetry, type CommitWithRetryOptions, type CommitWithRetryResult } from './retry.js'
import { exportSnapshot, readDatabase, type ExportOptions, type ExportResult } from './export-snapshot.js'
import { diffPages, type PageDiff } from './diff-pages.js'
import { historyOf, type LogEntry, type LogOptions } from './history.js'
import { pageMap, type PageRange } from './page-map.js'
import { reset, type ResetOptions } from './reset.js'
import { importDatabase, type ImportOptions, type ImportResult } from './import-database.js'
import { materialize, type MaterializeOptions } from './materialize.js'
import { fetchPages } from './page-fetcher.js'
import type { OperationOptions } from './progress.js'
import { assertNameFree, createRef, listRefNames, moveRef, readRef, requireRef } from './refs.js'
import { DEFAULT_SEGMENT_BYTES } from './segment-writer.js'
import { crossStoreDependencies, crossStoreLinks, stackOnOtherStore, type CrossStoreDependency, type CrossStoreLink, type CrossStoreSource } from './cross-store.js'
import { probeCompareAndSwap } from './doctor.js'
import { AllowlistResolver, type StoreOpener } from './fallback-stores.js'
import { listPins, prunePins, removePins, type PinInfo, type PinSelector, type PrunePinsOptions, type PrunePinsResult } from './pins.js'
import { repoint, type RepointResult } from './repoint.js'
import { normalizeStoreUrl, parseStoreRef } from '../format/store-ref.js'
import { compact, type CompactOptions, type CompactResult } from './compact.js'
import { deleteBranch, type DeleteBranchOptions, type DeleteBranchResult } from './delete-branch.js'
import { gc, type GcOptions, type GcResult } from './gc.js'
import { hold, listHolds, unhold, type HoldOptions } from './holds.js'
import type { Keyed } from './roots.js'
import { stats, type StatsOptions, type StatsResult } from './stats.js'
import { verify, type VerifyOptions, type VerifyResult } from './verify.js'
import { whyAlive, type WhyAliveOptions, type WhyAliveResult } from './why-alive.js'
import type { HoldRecord } from '../format/hold-record.js'
import { decodeTagRecord, type TagRecord } from '../format/tag-record.js'
import { createTag, deleteTag, getTag, listTags, tagsBySnapshot, type CreateTagOptions } from './tags.js'

/** Tuning and policy for a repository. */
export interface RepositoryOptions {
  /** Target size of segments written by import, commit and materialize. Default 4 MiB. */
  segmentBytes?: number
  /** Parallel transfers (uploads and ranged reads). Default 8. */
  concurrency?: number
  /**
   * Largest single ranged read; adjacent pages are coalesced up to it. Default 2 MiB: at the
   * default concurrency reads in flight hold about 16 MiB (twice that while hashed), and a
   * 256 MiB export makes 128 requests — 16 round trips of latency.
   */
  maxRunBytes?: number
  /**
   * Store URLs (or paths) that cross-store fallbacks may open, besides this store: an exact match
   * after `normalizeStoreUrl`. A store is opened only if its URL is on this list — never because a
   * manifest names it. Default: none.
   */
  allowStores?: readonly string[]
  /** Opens an allowed store by URL (e.g. `(url) => S3Store.fromUrl(url)`). Default: `file:` URLs only. */
  openStore?: StoreOpener
  /**
   * Opens stores that cross-store fallbacks name: a custom policy instead of `allowStores` (give
   * one or the other). Default: an {@link AllowlistResolver} over `allowStores`.
   */
  fallbackStores?: FallbackStoreResolver
  /**
   * `init` only: create the repository even if the store does not enforce conditional writes
   * (compare-and-swap). Without it, `init` probes the store and refuses with `UnsafeStoreError`.
   * Only safe when a single writer will ever use the store. Default false.
   */
  unsafeNoCas?: boolean
  /** Author recorded when an operation names none. Default `$USER` or `unknown`. */
  defaultAuthor?: string
  /** The clock (tests). */
  now?: () => Date
}

/** What a branch looks like to callers. */
export interface BranchInfo {
  name: string
  branchId: string
  /** The newest snapshot. */
  head: SnapshotId
  /** The snapshot commits stack on. */
  base: SnapshotId
  /** Where the branch was forked from (null: created by import). */
  source: SnapshotId | null
  sourceBranch: string | null
  createdAt: string
  updatedAt: string
  expiresAt: string | null
  /** For a branch just created from another store: what it stacks on there and whether it is pinned. */
  crossStore?: CrossStoreSource
}

/** A branch or snapshot named by the caller, resolved. */
export interface Target {
  snapshot: SnapshotId
  /** The branch, when the spec named one. */
  branch: string | null
}

/** Summary of one snapshot for `show`. */
export interface SnapshotSummary {
  id: SnapshotId
  branch: string | null
  pageSize: number
  pageCount: number
  /** Pages this snapshot stores itself. */
  ownPages: number
  ownBytes: number
  /** Bytes of the segments its own pages live in (shared segments counted whole). */
  segmentBytes: number
  segments: number
  checksum: string
  fallback: SnapshotManifest['fallback']
  /** The chain, this snapshot first. */
  chain: { id: SnapshotId; pageCount: number; ownPages: number; store: string }[]
  parent: SnapshotId | null
  message: string
  author: string
  createdAt: string
  /** Tags in the snapshot's metadata, then the names of tags (`createTag`) on it. */
  tags: string[]
  operation: string
  /** Fallbacks of the chain that cross into other stores, and whether each is pinned there. */
  crossStore: CrossStoreLink[]
}

/** The protected branch: it cannot be deleted or renamed. */
export const MAIN_BRANCH = 'main'

/**
 * A Strata repository in one store: branches, snapshots and the operations on them.
 *
 * Open one with {@link Repository.open} (or create it with {@link Repository.init}). Every
 * mutation follows the same order — segments, then the manifest, then a compare-and-swap of the
 * ref — so a crash at any point leaves every ref at a complete snapshot.
 */
export class Repository {
  readonly store: ObjectStore
  /** The store's identity (UUID). */
  readonly storeId: string
  readonly options: Required<Omit<RepositoryOptions, 'fallbackStores' | 'openStore'>> & Pick<RepositoryOptions, 'fallbackStores' | 'openStore'>
  /** Loads manifests and resolves chains (cached). */
  readonly chains: ChainLoader
  /** The allowlist that opens other stores for cross-store fallbacks (null with a custom `fallbackStores`, or none allowed). */
  readonly allowlist: AllowlistResolver | null

  private constructor(store: ObjectStore, storeId: string, options: RepositoryOptions) {
    this.store = store
    this.storeId = storeId
    this.options = {
      segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      concurrency: options.concurrency ?? 8,
      maxRunBytes: options.maxRunBytes ?? 2 * 1024 * 1024,
      defaultAuthor: options.defaultAuthor ?? process.env.USER ?? 'unknown',
      now: options.now ?? (() => new Date()),
      allowStores: (options.allowStores ?? []).map(normalizeStoreUrl),
      openStore: options.openStore,
      unsafeNoCas: options.unsafeNoCas ?? false,
      fallbackStores: options.fallbackStores,
    }
    if (options.fallbackStores && options.allowStores && options.allowStores.length > 0) {
      throw new InvalidArgumentError({ argument: 'fallbackStores', reason: 'give either allowStores or a custom fallbackStores resolver, not both' })
    }
    this.allowlist =
      options.fallbackStores || this.options.allowStores.length === 0
        ? null
        : new AllowlistResolver(this.handle, { allow: this.options.allowStores, ...(options.openStore ? { open: options.openStore } : {}) })
    this.options.fallbackStores = options.fallbackStores ?? this.allowlist?.resolve
    this.chains = new ChainLoader(this.handle, this.options.fallbackStores)
  }

  /** This repository's store with its identity. */
  get handle(): StoreHandle {
    return { store: this.store, id: this.storeId }
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
      const cas = await probeCompareAndSwap(store)
      if (cas.error && cas.createOnly === 'failed') throw new StoreError({ operation: 'init', key: FORMAT_KEY, store: store.url, retryable: false }, { cause: new Error(cas.error) })
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
    return new Repository(store, storeId, options)
  }

  /**
   * Open the repository in `store`. `NotARepositoryError` if it has no format marker,
   * `UnsupportedFormatError` if it was written by a newer, incompatible format.
   */
  static async open(store: ObjectStore, options: RepositoryOptions = {}): Promise<Repository> {
    const got = await store.get(FORMAT_KEY)
    if (!got) throw new NotARepositoryError({ store: store.url })
    const marker = decodeStoreMarker(got.body)
    return new Repository(store, marker.storeId, options)
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
    return this.options.now().toISOString()
  }

  // ---- branches ---------------------------------------------------------------------------

  /**
   * Import a SQLite file as a standalone root snapshot on a new branch (default `main`).
   * The file is validated first (magic, page size, size vs page count, no hot journal or WAL);
   * anything else is refused with `InvalidDatabaseError` and nothing is written.
   */
  importDatabase(path: string, opts: ImportOptions = {}): Promise<ImportResult> {
    return importDatabase(this, path, opts)
  }

  /**
   * Create branch `name` stacked on `from` (default `main`): a branch name or snapshot id of this
   * store, or `<store-url>#<branch-or-snapshot>` in another store (see `parseStoreRef`). O(1):
   * writes a branch record and a ref, copies no page and reads no manifest. From another store it
   * also reads the base's manifest once, writes a stub snapshot that falls back into it, and pins
   * the base snapshot there unless `pin: false` (see `stackOnOtherStore`); that store must be on
   * the allowlist.
   */
  async createBranch(name: string, opts: { from?: string; ttlMs?: number; pin?: boolean } = {}): Promise<BranchInfo> {
    validateName(name)
    if (opts.ttlMs !== undefined && (!Number.isFinite(opts.ttlMs) || opts.ttlMs <= 0)) {
      throw new InvalidArgumentError({ argument: 'ttl', reason: 'must be a positive duration' })
    }
    const other = parseStoreRef(opts.from ?? MAIN_BRANCH)
    // Name first for another store: stacking there writes a pin and a stub.
    if (other) await assertNameFree(this.store, name)
    const source = other ? await stackOnOtherStore(this, other, opts.pin === undefined ? {} : { pin: opts.pin }) : { ...(await this.resolveTarget(opts.from ?? MAIN_BRANCH)), crossStore: null }
    if (!other) await assertNameFree(this.store, name)
    const now = this.options.now()
    const record: BranchRecord = {
      id: newBranchId(),
      name,
      createdAt: now.toISOString(),
      source: source.snapshot,
      sourceBranch: source.branch,
    }
    await this.store.put(branchKey(record.id), encodeBranchRecord(record), { ifNoneMatch: '*' })
    const ref: Ref = {
      name,
      branchId: record.id,
      head: source.snapshot,
      base: source.snapshot,
      updatedAt: record.createdAt,
      expiresAt: opts.ttlMs === undefined ? null : new Date(now.getTime() + opts.ttlMs).toISOString(),
    }
    await createRef(this.store, ref)
    return source.crossStore ? { ...toBranchInfo(ref, record), crossStore: source.crossStore } : toBranchInfo(ref, record)
  }

  /** The branch named `name`; `BranchNotFoundError` if there is none. */
  async getBranch(name: string): Promise<BranchInfo> {
    validateName(name)
    const { ref } = await requireRef(this.store, name)
    return toBranchInfo(ref, await this.branchRecord(ref))
  }

  /** Every branch, sorted by name. */
  async listBranches(): Promise<BranchInfo[]> {
    const limit = pLimit(this.options.concurrency)
    const names = await listRefNames(this.store)
    const infos = await Promise.all(
      names.map((name) =>
        limit(async () => {
          const r = await readRef(this.store, name)
          return r ? toBranchInfo(r.ref, await this.branchRecord(r.ref)) : null
        }),
      ),
    )
    return infos.filter((b): b is BranchInfo => b !== null)
  }

  /**
   * Rename a branch: the new name gets the same branch id, head and base, then the old name is
   * removed. `main` cannot be renamed. Safe against concurrent commits, renames and deletes of
   * the branch (see `moveRef`): a commit either lands before the rename or fails, never vanishes.
   * A rename interrupted half-way is finished by running it again.
   */
  async renameBranch(from: string, to: string): Promise<BranchInfo> {
    validateName(from)
    validateName(to)
    if (from === MAIN_BRANCH) throw new ProtectedBranchError({ name: from, operation: 'renamed' })
    const moved = await moveRef(this.store, from, to, this.nowIso())
    return toBranchInfo(moved, await this.branchRecord(moved))
  }

  /**
   * Delete branch `name`: its ref goes and the name is free at once. Snapshots other branches
   * stack on stay readable; what nothing references any more is garbage for gc. `main` and held
   * branches cannot be deleted. `detachChildren` materializes the branches stacked on it first
   * (see `deleteBranch` in delete-branch.ts).
   */
  deleteBranch(name: string, opts: DeleteBranchOptions = {}): Promise<DeleteBranchResult> {
    return deleteBranch(this, name, opts)
  }

  /** The record of the branch a ref points at (null if it is gone: the store is damaged). */
  async branchRecord(ref: Ref): Promise<BranchRecord | null> {
    const key = branchKey(ref.branchId as BranchRecord['id'])
    const got = await this.store.get(key)
    return got ? decodeBranchRecord(key, got.body) : null
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /**
   * Resolve a spec to a snapshot: a branch name (its head), a tag name (its snapshot), or a
   * snapshot id or unique prefix of at least 4 hex digits. Branch names win over tag names, and
   * both over prefixes.
   */
  async resolveTarget(spec: string): Promise<Target> {
    let nameError: unknown = null
    try {
      validateName(spec)
      const r = await readRef(this.store, spec)
      if (r) return { snapshot: r.ref.head, branch: spec }
      const tag = await this.store.get(tagKey(spec))
      if (tag) return { snapshot: decodeTagRecord(tagKey(spec), tag.body).snapshot, branch: null }
    } catch (e) {
      if (!isStrataError(e, 'STRATA_INVALID_NAME')) throw e
      nameError = e
    }
    if (isSnapshotIdPrefix(spec)) {
      if (isSnapshotId(spec)) {
        if (await this.store.head(snapshotKey(spec))) return { snapshot: spec, branch: null }
        throw new SnapshotNotFoundError({ ref: spec })
      }
      const found: string[] = []
      for await (const o of this.store.list(SNAPSHOTS_PREFIX + spec)) {
        found.push(o.key.slice(SNAPSHOTS_PREFIX.length))
        if (found.length > 5) break
      }
      if (found.length === 1 && isSnapshotId(found[0]!)) return { snapshot: found[0], branch: null }
      if (found.length > 1) throw new SnapshotNotFoundError({ ref: spec, candidates: found })
    }
    if (nameError) throw nameError
    if (isSnapshotIdPrefix(spec)) throw new SnapshotNotFoundError({ ref: spec })
    throw new BranchNotFoundError({ name: spec })
  }

  /** The manifest of snapshot `id`. */
  snapshot(id: SnapshotId): Promise<SnapshotManifest> {
    return this.chains.manifest(id)
  }

  /** Resolve every page of snapshot `id` down its chain (see `ChainLoader.resolve`). */
  resolve(id: SnapshotId, branch: string | null = null): Promise<ResolvedTable> {
    return this.chains.resolve(id, { branch })
  }

  /**
   * Read page `p` of a branch or snapshot, verified against its hash. The lock-byte page reads
   * as zeros. A page past the page count is an `InvalidArgumentError`; a page the chain lacks is
   * `MissingPageError`; a damaged page is `CorruptPageError`.
   */
  async readPage(spec: string, p: number): Promise<Uint8Array> {
    const target = await this.resolveTarget(spec)
    const t = await this.resolve(target.snapshot, target.branch)
    if (!Number.isInteger(p) || p < 1 || p > t.pageCount) {
      throw new InvalidArgumentError({ argument: 'page number', reason: `${p} is outside 1…${t.pageCount}` })
    }
    if (!locatePage(t, p as PageNo)) return new Uint8Array(t.pageSize)
    let out: Uint8Array | null = null
    await fetchPages(t, (_, page) => void (out = new Uint8Array(page)), { concurrency: 1, maxRunBytes: t.pageSize }, [p as PageNo])
    return out!
  }

  /** Commit page writes and/or a new page count to a branch (see {@link CommitOptions}). */
  commit(branch: string, opts: CommitOptions): Promise<CommitResult> {
    return commit(this, branch, opts)
  }

  /**
   * Commit like {@link commit}, rebasing onto concurrent commits that touched other pages and
   * retrying; overlapping changes fail with `ConflictError` listing the pages (see `commitWithRetry`).
   */
  commitWithRetry(branch: string, opts: CommitWithRetryOptions): Promise<CommitWithRetryResult> {
    return commitWithRetry(this, branch, opts)
  }

  /** Flatten a branch into a standalone snapshot (no fallback) and move the branch to it. */
  materialize(branch: string, opts: MaterializeOptions = {}): Promise<CommitResult> {
    return materialize(this, branch, opts)
  }

  /** Write a branch or snapshot to a plain `.sqlite` file. */
  async export(spec: string, outPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
    const target = await this.resolveTarget(spec)
    return exportSnapshot(this, target, outPath, opts)
  }

  /**
   * The whole database of a branch or snapshot as bytes, verified like an export. Holds it in
   * memory: prefer `export` for large databases.
   */
  async readDatabase(spec: string, opts: OperationOptions = {}): Promise<Uint8Array> {
    return readDatabase(this, await this.resolveTarget(spec), opts)
  }

  /** The history of a branch (or of the snapshot a spec names), newest first. */
  async log(spec: string, opts: LogOptions = {}): Promise<LogEntry[]> {
    const target = await this.resolveTarget(spec)
    return historyOf(this, target.snapshot, opts)
  }

  /**
   * Point a branch back at an earlier snapshot of its history (see `reset` for the contract):
   * `to` is a snapshot id or unique prefix.
   */
  async reset(branch: string, to: string, opts: ResetOptions = {}): Promise<CommitResult> {
    const target = await this.resolveTarget(to)
    return reset(this, branch, target.snapshot, opts)
  }

  /** Which pages differ between two branches or snapshots, from page tables alone. */
  diffPages(a: string, b: string): Promise<PageDiff> {
    return diffPages(this, a, b)
  }

  /** Which snapshot and store serve each page range of a branch or snapshot. */
  pageMap(spec: string): Promise<{ target: Target; pageCount: number; ranges: PageRange[] }> {
    return pageMap(this, spec)
  }

  /** Describe a branch's head or a snapshot: sizes, own pages, chain, metadata. */
  async show(spec: string): Promise<SnapshotSummary> {
    const target = await this.resolveTarget(spec)
    const levels: ChainLevel[] = await this.chains.chain(target.snapshot)
    const m = levels[0]!.manifest
    return {
      id: target.snapshot,
      branch: target.branch,
      pageSize: m.pageSize,
      pageCount: m.pageCount,
      ownPages: m.pages.pageNos.length,
      ownBytes: m.pages.pageNos.length * m.pageSize,
      segmentBytes: m.segments.reduce((s, x) => s + x.length, 0),
      segments: m.segments.length,
      checksum: Buffer.from(m.checksum).toString('hex'),
      fallback: m.fallback,
      chain: levels.map((l) => ({ id: l.id, pageCount: l.manifest.pageCount, ownPages: l.manifest.pages.pageNos.length, store: l.store.store.url })),
      parent: m.parent,
      message: m.message,
      author: m.author,
      createdAt: m.createdAt,
      tags: [...new Set([...m.tags, ...((await tagsBySnapshot(this)).get(target.snapshot) ?? [])])],
      operation: m.operation,
      crossStore: await crossStoreLinks(levels),
    }
  }

  // ---- tags --------------------------------------------------------------------------------

  /** Tag the snapshot a branch, tag or snapshot spec names; create-only (see `createTag`). */
  createTag(name: string, spec: string, opts: CreateTagOptions = {}): Promise<TagRecord> {
    return createTag(this, name, spec, opts)
  }

  /** The tag named `name`, or null. */
  getTag(name: string): Promise<TagRecord | null> {
    return getTag(this, name)
  }

  /** Every tag, sorted by name. */
  listTags(): Promise<TagRecord[]> {
    return listTags(this)
  }

  /** Delete a tag and return it; `TagNotFoundError` if there is none (see `deleteTag`). */
  deleteTag(name: string): Promise<TagRecord> {
    return deleteTag(this, name)
  }

  // ---- other stores ------------------------------------------------------------------------

  /** The other stores this repository stacks on and what it needs there (see `crossStoreDependencies`). */
  crossStoreDependencies(opts: { check?: boolean } = {}): Promise<CrossStoreDependency[]> {
    return crossStoreDependencies(this, opts)
  }

  /** Move a base store's location after checking identity and checksums (see `repoint`). */
  repoint(oldUrl: string, newUrl: string): Promise<RepointResult> {
    return repoint(this, oldUrl, newUrl)
  }

  /** Pins other stores hold in this one (see `listPins`). */
  listPins(): Promise<PinInfo[]> {
    return listPins(this)
  }

  /** Remove pins of this store by dependent store and/or snapshot (see `removePins`). */
  removePins(selector: PinSelector): Promise<PinInfo[]> {
    return removePins(this, selector)
  }

  /** Remove the pins this store holds in its base stores that it no longer needs (see `prunePins`). */
  prunePins(opts: PrunePinsOptions = {}): Promise<PrunePinsResult> {
    return prunePins(this, opts)
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Collect garbage: see `gc` in gc.ts for roots, retention, grace and the safety argument. */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return gc(this, opts)
  }

  /** Check that every branch is fully readable, collecting every problem (see `verify`). */
  verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    return verify(this, opts)
  }

  /** Per-branch and store-wide sizes as gc sees them (see `stats`). */
  stats(opts: StatsOptions = {}): Promise<StatsResult> {
    return stats(this, opts)
  }

  /** The roots that keep a snapshot or segment alive, with paths (see `whyAlive`). */
  whyAlive(spec: string, opts: WhyAliveOptions = {}): Promise<WhyAliveResult> {
    return whyAlive(this, spec, opts)
  }

  /** Rewrite mostly-dead or small segments of `branch`'s head, or of every head (see `compact`). */
  compact(branch?: string, opts: CompactOptions = {}): Promise<CompactResult> {
    return compact(this, branch, opts)
  }

  /** Hold a branch or snapshot so gc keeps it regardless of retention and expiry (see `hold`). */
  hold(spec: string, opts: HoldOptions = {}): Promise<Keyed<HoldRecord>> {
    return hold(this, spec, opts)
  }

  /** Remove the hold on a branch or snapshot; null if it held nothing (see `unhold`). */
  unhold(spec: string): Promise<Keyed<HoldRecord> | null> {
    return unhold(this, spec)
  }

  /** Every hold, sorted by key. */
  listHolds(): Promise<Keyed<HoldRecord>[]> {
    return listHolds(this)
  }

  /** Release the store's resources. */
  async close(): Promise<void> {
    await this.allowlist?.close()
    await this.store.close?.()
  }

  /** A short form of a snapshot id for messages. */
  static shortId(id: string): string {
    return shortId(id)
  }
}

function toBranchInfo(ref: Ref, record: BranchRecord | null): BranchInfo {
  return {
    name: ref.name,
    branchId: ref.branchId,
    head: ref.head,
    base: ref.base,
    source: record?.source ?? null,
    sourceBranch: record?.sourceBranch ?? null,
    createdAt: record?.createdAt ?? ref.updatedAt,
    updatedAt: ref.updatedAt,
    expiresAt: ref.expiresAt,
  }
}
