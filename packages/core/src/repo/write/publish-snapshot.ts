import { isStrataError } from '../../errors/index.js'
import type { BranchRecord } from '../../format/branch-record.js'
import { newBranchId, type SnapshotId } from '../../format/ids.js'
import { snapshotKey } from '../../format/keys.js'
import { originOf } from '../../format/ref.js'
import { encodeManifest, type SnapshotManifest } from '../../format/manifest.js'
import type { ReadHint, Ref } from '../../format/ref.js'
import { createRef, updateRef, type VersionedRef } from '../branches/refs.js'
import { RECHECK_AFTER_MS, protectSnapshots } from '../branches/intents.js'
import type { ResolvedTable } from '../read/chain.js'
import { nowIso, type RepoContext } from '../read/context.js'
import { readHintFor } from '../read/read-hint.js'

/** The manifest fields a publishing operation decides; branch, parent, time and default author are filled in. */
export type ManifestContent = Omit<SnapshotManifest, 'formatVersion' | 'branchId' | 'branchName' | 'parent' | 'createdAt' | 'author'> & {
  /** Default: the repository's default author. */
  author?: string | undefined
}

/** What {@link publishSnapshot} publishes and where. */
export interface PublishRequest {
  /**
   * The branch the snapshot becomes the head of: its ref as read (moved by compare-and-swap
   * against that version), or `{ create }` for a new branch, whose ref (carrying its origin) is
   * written create-only after the manifest.
   */
  branch: VersionedRef | { create: string }
  manifest: ManifestContent
  /** The ref's base afterwards: `keep` the current one (default), the new snapshot (`self`), or this snapshot. */
  base?: 'keep' | 'self' | SnapshotId
  /**
   * When the operation began writing objects (repository-clock ms). If it has run for
   * `RECHECK_AFTER_MS` or longer, its objects may be older than a concurrent gc's grace period:
   * the manifest is then published under an intent, after checking that it and every segment it
   * references still exist (`MissingObjectError` otherwise, and nothing is published).
   */
  startedAt?: number
  /** Re-check under an intent however long the operation ran: it reuses objects that were already stored (and may be old). */
  recheck?: boolean
  /**
   * The manifest's fallback resolved, if the caller has it: the ref's read hint then lists the
   * whole chain and also locates first pages the new snapshot does not own. Without it the hint
   * names the fallback alone and the pages the snapshot owns from page 1 on.
   */
  below?: ResolvedTable
}

/** What {@link publishSnapshot} wrote. */
export interface Published {
  snapshot: SnapshotId
  /** The head before (null for a new branch). */
  previous: SnapshotId | null
  /** Size of the manifest written. */
  manifestBytes: number
  /** The ref as it now stands. */
  ref: Ref
}

/**
 * The one publish step of every write: encode the manifest, store it create-only, then move the
 * branch's ref to it by compare-and-swap (or create the branch). Segments must already be
 * uploaded, so a crash at any point leaves the ref at a complete snapshot; a lost race throws
 * `ConflictError` and leaves only an unreferenced manifest behind. The ref written carries the
 * new head's read hint (see `readHintFor`), computed here at no request's cost.
 */
export async function publishSnapshot(ctx: RepoContext, req: PublishRequest): Promise<Published> {
  const createdAt = nowIso(ctx)
  const current = 'create' in req.branch ? null : req.branch
  const name = current ? current.ref.name : (req.branch as { create: string }).create
  const record: BranchRecord | null = current ? null : { id: newBranchId(), name, createdAt, source: null, sourceBranch: null }
  const { author, ...content } = req.manifest
  const manifest = {
    ...content,
    branchId: current ? current.ref.branchId : record!.id,
    branchName: name,
    parent: current ? current.ref.head : null,
    author: author ?? ctx.settings.defaultAuthor,
    createdAt,
  }
  const encoded = encodeManifest(manifest)
  const hint = readHintFor(encoded.id, manifest, req.below ?? null, ctx.storeId)
  await putManifest(ctx, encoded.id, encoded.bytes)
  const long = req.recheck === true || (req.startedAt !== undefined && ctx.now().getTime() - req.startedAt >= RECHECK_AFTER_MS)
  const intent = long ? await protectSnapshots(ctx, content.operation, [encoded.id], { segments: true }) : null
  try {
    return await moveOrCreateRef(ctx, req, current, record, encoded, hint)
  } finally {
    await intent?.release()
  }
}

async function moveOrCreateRef(
  ctx: RepoContext,
  req: PublishRequest,
  current: VersionedRef | null,
  record: BranchRecord | null,
  encoded: { id: SnapshotId; bytes: Uint8Array },
  hint: ReadHint | null,
): Promise<Published> {
  const name = current ? current.ref.name : record!.name
  const createdAt = record ? record.createdAt : nowIso(ctx)
  const base = req.base === undefined || req.base === 'keep' ? (current ? current.ref.base : encoded.id) : req.base === 'self' ? encoded.id : req.base
  const readHint = hint ? { readHint: hint } : {}
  let ref: Ref
  if (current) {
    const { readHint: _old, ...kept } = current.ref
    ref = { ...kept, head: encoded.id, base, updatedAt: nowIso(ctx), ...readHint }
    await updateRef(ctx.store, ref, current.version)
  } else {
    ref = { name, branchId: record!.id, head: encoded.id, base, updatedAt: createdAt, expiresAt: null, origin: originOf(record!), ...readHint }
    await createRef(ctx.store, ref)
  }
  return { snapshot: encoded.id, previous: current ? current.ref.head : null, manifestBytes: encoded.bytes.byteLength, ref }
}

/** Store a manifest create-only; an existing one with the same id holds the same bytes. */
export async function putManifest(ctx: RepoContext, id: SnapshotId, bytes: Uint8Array): Promise<void> {
  try {
    await ctx.store.put(snapshotKey(id), bytes, { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
  }
}
