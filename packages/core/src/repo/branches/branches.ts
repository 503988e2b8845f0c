import pLimit from 'p-limit'
import { InvalidArgumentError, ProtectedBranchError, isStrataError } from '../../errors/index.js'
import { decodeBranchRecord, type BranchRecord } from '../../format/branch-record.js'
import { newBranchId } from '../../format/ids.js'
import { branchKey } from '../../format/keys.js'
import { MAIN_BRANCH, validateName } from '../../format/names.js'
import { originOf, type Ref } from '../../format/ref.js'
import type { SnapshotId } from '../../format/ids.js'
import type { Target } from '../read/chain.js'
import { nowIso, type RepoContext } from '../read/context.js'
import { confirmNewRoot, sweptSince, withSnapshotsProtected } from './intents.js'
import { createRef, listRefs, moveRef, readRef, removeRef, requireRef } from './refs.js'

/** What stacking on another store's snapshot produced, reported with the new branch. */
export interface CrossStoreSource {
  /** The base store as the fallback records it: normalized URL and identity. */
  store: { url: string; id: string }
  /** The base snapshot in that store. */
  snapshot: SnapshotId
  /** The branch named in that store, if the source named one. */
  branch: string | null
  /** The local stub snapshot the branch starts at. */
  stub: SnapshotId
  /** True if a pin now protects the base snapshot from gc in the base store. */
  pinned: boolean
  /** Why no pin was written (`pin: false`, or the base refused the write), when `pinned` is false. */
  unpinnedReason: string | null
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

/** Options of branch creation. */
export interface CreateBranchOptions {
  /** What to stack on: a branch, tag or snapshot of this store, or `<store-url>#<spec>` of another. Default `main`. */
  from?: string
  /** Let gc expire the branch this long after creation. */
  ttlMs?: number
  /** From another store: pin the base snapshot there. Default true. */
  pin?: boolean
}

/** `InvalidArgumentError` unless the TTL of {@link CreateBranchOptions} is a positive duration. */
export function checkBranchTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && (!Number.isFinite(ttlMs) || ttlMs <= 0)) {
    throw new InvalidArgumentError({ argument: 'ttl', reason: 'must be a positive duration' })
  }
}

/**
 * Write the ref (create-only) of a new branch `name` stacked on an already resolved `source`: one
 * put. The ref carries the branch's origin (format 2.0), so no separate branch record is written
 * (format 1.x wrote one; those are still read). A racing creator of the name, or of a case twin,
 * loses on the ref. `readSince`: the repository-clock time and `performance.now()` taken before
 * `source` was read. `opened`: for a `ctx` made without reading the format marker (its store id
 * unknown), the opened repository's context, for the check of the source's chain.
 */
export async function addBranch(
  ctx: RepoContext,
  name: string,
  source: Target & { crossStore: CrossStoreSource | null },
  ttlMs: number | undefined,
  readSince: { at: number; perf: number },
  opened?: () => Promise<RepoContext>,
): Promise<BranchInfo> {
  const now = ctx.now()
  const record: BranchRecord = {
    id: newBranchId(),
    name,
    createdAt: now.toISOString(),
    source: source.snapshot,
    sourceBranch: source.branch,
  }
  const ref: Ref = {
    name,
    branchId: record.id,
    head: source.snapshot,
    base: source.snapshot,
    updatedAt: record.createdAt,
    expiresAt: ttlMs === undefined ? null : new Date(now.getTime() + ttlMs).toISOString(),
    origin: originOf(record),
    // The source ref's hint describes the same head (and names keys of this store): free to copy.
    ...(source.readHint && !source.crossStore ? { readHint: source.readHint } : {}),
  }
  // The source snapshot may be reachable from nothing else by now (a snapshot id, a tag deleted
  // since, a branch moved on), so a concurrent gc could free it (see gc.ts). From a branch, the
  // new ref itself is the root of the handshake: written first, then one listing of `sweeps/`
  // shows whether any gc sweep ran since the source ref was read; if one may have, running sweeps
  // are waited out and the source ref, read again, still naming the snapshot proves it was kept
  // (else its chain is checked, and the ref removed again if gc freed it). From anything else, an
  // intent.
  const sourceBranch = source.crossStore ? null : source.branch
  if (sourceBranch !== null) {
    const version = await createRef(ctx.store, ref)
    const undo = (): Promise<void> => removeRef(ctx.store, { ref, version }, nowIso(ctx))
    try {
      if (!(await sweptSince(ctx, readSince.at, readSince.perf))) return toBranchInfo(ref, record)
      const stillReferenced = async (): Promise<boolean> => (await readRef(ctx.store, sourceBranch))?.ref.head === source.snapshot
      const full = opened ? await opened() : ctx
      await confirmNewRoot(full, 'branch create', [source.snapshot], undo, full.handle, { stillReferenced })
    } catch (e) {
      // A create that fails leaves no branch: also when the wait or the check could not finish
      // (confirmNewRoot itself removes the ref only when the snapshot is gone).
      if (!isStrataError(e, 'STRATA_MISSING_OBJECT')) await undo().catch(() => {})
      throw e
    }
  } else {
    await withSnapshotsProtected(ctx, 'branch create', [source.snapshot], () => createRef(ctx.store, ref))
  }
  return source.crossStore ? { ...toBranchInfo(ref, record), crossStore: source.crossStore } : toBranchInfo(ref, record)
}

/** The branch named `name`; `BranchNotFoundError` if there is none. */
export async function getBranch(ctx: RepoContext, name: string): Promise<BranchInfo> {
  validateName(name)
  const { ref } = await requireRef(ctx.store, name)
  return toBranchInfo(ref, ref.origin ? null : await branchRecord(ctx, ref))
}

/**
 * Every branch, sorted by name: one prefix scan of the refs and one read per ref (a ref written
 * by format 1.x has no copy of its origin, so its branch record is read too).
 */
export async function listBranches(ctx: RepoContext): Promise<BranchInfo[]> {
  const limit = pLimit(ctx.settings.concurrency)
  const refs = await listRefs(ctx.store)
  return Promise.all(refs.map(({ ref }) => limit(async () => toBranchInfo(ref, ref.origin ? null : await branchRecord(ctx, ref)))))
}

/**
 * Rename a branch: the new name gets the same branch id, head and base, then the old name is
 * removed. `main` cannot be renamed. Safe against concurrent commits, renames and deletes of
 * the branch (see `moveRef`): a commit either lands before the rename or fails, never vanishes.
 * A rename interrupted half-way is finished by running it again.
 */
export async function renameBranch(ctx: RepoContext, from: string, to: string): Promise<BranchInfo> {
  validateName(from)
  validateName(to)
  if (from === MAIN_BRANCH) throw new ProtectedBranchError({ name: from, operation: 'renamed' })
  const moved = await moveRef(ctx.store, from, to, nowIso(ctx))
  return toBranchInfo(moved, moved.origin ? null : await branchRecord(ctx, moved))
}

/** The record of the branch a ref points at (null if it is gone: the store is damaged). */
export async function branchRecord(ctx: RepoContext, ref: Ref): Promise<BranchRecord | null> {
  const key = branchKey(ref.branchId as BranchRecord['id'])
  const got = await ctx.store.get(key)
  return got ? decodeBranchRecord(key, got.body) : null
}

/** A ref as callers see it; its origin from the ref (format 2.0) or else from `record`. */
function toBranchInfo(ref: Ref, record: BranchRecord | null): BranchInfo {
  const origin = ref.origin ?? record
  return {
    name: ref.name,
    branchId: ref.branchId,
    head: ref.head,
    base: ref.base,
    source: origin?.source ?? null,
    sourceBranch: origin?.sourceBranch ?? null,
    createdAt: origin?.createdAt ?? ref.updatedAt,
    updatedAt: ref.updatedAt,
    expiresAt: ref.expiresAt,
  }
}
