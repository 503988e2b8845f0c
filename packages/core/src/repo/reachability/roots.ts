import { InvalidArgumentError, isStrataError } from '../../errors/index.js'
import { decodeHoldRecord, type HoldRecord } from '../../format/hold-record.js'
import type { SnapshotId } from '../../format/ids.js'
import { HOLDS_PREFIX, PINS_PREFIX, REFS_PREFIX, TAGS_PREFIX, refKey } from '../../format/keys.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import { decodePinRecord, type PinRecord } from '../../format/pin-record.js'
import { decodeRef, type Ref } from '../../format/ref.js'
import { decodeTagRecord, type TagRecord } from '../../format/tag-record.js'
import type { ObjectStore } from '../../store/object-store.js'
import pLimit from 'p-limit'
import { METADATA_READS, readObjects, readRefObjects, type PriorListing } from '../branches/ref-index.js'
import { isOwnRefKey, isTombstone, type VersionedRef } from '../branches/refs.js'
import { type RepoContext } from '../read/context.js'

/**
 * How much history gc keeps behind each branch head. A snapshot on a branch's `parent` chain is
 * retained if it is among the newest `keepLast` (the head counts as the first) or was created
 * within `keepWithinMs` of now. The walk stops at the first snapshot neither rule keeps, at a
 * snapshot committed on another branch (the fork point is kept as the branch's base anyway), and
 * at a parent that no longer exists. A branch with a hold keeps its whole history.
 */
export interface RetentionPolicy {
  /** Snapshots kept per branch, the head included; at least 1. Default 1 (heads only). */
  keepLast?: number
  /** Also keep every snapshot of a branch created less than this many ms ago. Default 7 days; 0 for none. */
  keepWithinMs?: number
}

/** The default retention: every head, plus each branch's history of the last 7 days. */
export const DEFAULT_RETENTION: Readonly<Required<RetentionPolicy>> = Object.freeze({ keepLast: 1, keepWithinMs: 7 * 24 * 60 * 60 * 1000 })

/** The policy with defaults filled in; `InvalidArgumentError` for nonsense values. */
export function retentionOf(p: RetentionPolicy | undefined): Required<RetentionPolicy> {
  const keepLast = p?.keepLast ?? DEFAULT_RETENTION.keepLast
  const keepWithinMs = p?.keepWithinMs ?? DEFAULT_RETENTION.keepWithinMs
  if (!Number.isInteger(keepLast) || keepLast < 1) {
    throw new InvalidArgumentError({ argument: 'keepLast', reason: `${keepLast} is not a whole number ≥ 1 (the head is always kept)` })
  }
  if (!(keepWithinMs >= 0)) throw new InvalidArgumentError({ argument: 'keepWithinMs', reason: `${keepWithinMs} is not a duration ≥ 0` })
  return { keepLast, keepWithinMs }
}

/** What kind of thing keeps snapshots alive. */
export type RootKind = 'branch' | 'tag' | 'hold' | 'pin'

/** How one kind of root object is stored and what it keeps. */
export interface RootKindSpec<K extends RootKind = RootKind, T = unknown> {
  kind: K
  /** Where its objects live. */
  prefix: string
  /** Its name among a store's object kinds (`stats`). */
  objects: 'refs' | 'tags' | 'holds' | 'pins'
  decode: (key: string, bytes: Uint8Array) => T
  /** The snapshot it keeps directly (null: none; a branch's snapshots come from its ref). */
  target: (record: T) => SnapshotId | null
  /** The branch whose whole history it keeps, if any (a hold on a branch). */
  heldBranch: (record: T) => string | null
}

const rootKind = <K extends RootKind, T>(spec: RootKindSpec<K, T>): RootKindSpec<K, T> => spec

/**
 * Every kind of root, in one table: `readRoots` (so mark, gc, compact, stats and why-alive),
 * `verify` and `stats` all read it, so a new kind of root cannot be forgotten by one of them.
 */
export const ROOT_KINDS = [
  rootKind({ kind: 'branch', prefix: REFS_PREFIX, objects: 'refs', decode: decodeRef, target: () => null, heldBranch: () => null }),
  rootKind({ kind: 'tag', prefix: TAGS_PREFIX, objects: 'tags', decode: decodeTagRecord, target: (t: TagRecord) => t.snapshot, heldBranch: () => null }),
  rootKind({
    kind: 'hold',
    prefix: HOLDS_PREFIX,
    objects: 'holds',
    decode: decodeHoldRecord,
    target: (h: HoldRecord) => (h.target === 'snapshot' ? h.snapshot : null),
    heldBranch: (h: HoldRecord) => (h.target === 'branch' ? h.branch : null),
  }),
  rootKind({ kind: 'pin', prefix: PINS_PREFIX, objects: 'pins', decode: decodePinRecord, target: (p: PinRecord) => p.snapshot, heldBranch: () => null }),
] as const

/** How a root names one of its snapshots. */
export type RootEdge = 'head' | 'base' | 'history' | 'target'

/** One snapshot a root keeps directly (its fallback chain is kept through it). */
export interface RootSnapshot {
  id: SnapshotId
  via: RootEdge
  /** For `head` and `history`: the position on the branch's parent chain (0 is the head). */
  depth?: number
}

/** A gc root: a ref, tag, hold or pin, and the snapshots it keeps directly. */
export interface Root {
  kind: RootKind
  /** Branch name, tag name, held branch name or snapshot id, or the pin's dependent store URL. */
  name: string
  /** The object that is the root. */
  key: string
  /** Head, base and retained history of a branch; the target of a tag, hold or pin. */
  snapshots: RootSnapshot[]
}

/** A tag, hold or pin with the key it was read from. */
export interface Keyed<T> {
  key: string
  record: T
}

/** Every root of a store, read in one pass. */
export interface RootScan {
  /** Refs that are roots (expired refs excluded). */
  refs: VersionedRef[]
  /** Refs whose `expiresAt` has passed and whose name has no hold: not roots. */
  expired: VersionedRef[]
  /** Tombstones of deletions in progress or interrupted (see `removeRef`): not branches, not roots. */
  tombstones: VersionedRef[]
  tags: Keyed<TagRecord>[]
  holds: Keyed<HoldRecord>[]
  pins: Keyed<PinRecord>[]
  roots: Root[]
}

/** Options for {@link readRoots}. */
export interface ReadRootsOptions {
  retention?: RetentionPolicy
  /** Treat refs past their `expiresAt` as dead (default true). */
  expire?: boolean
  /** Never expires (the protected branch). */
  protectedBranch?: string
  /** Leave these refs out (e.g. to ask what deleting them would free). */
  without?: ReadonlySet<string>
  /** Take the root objects from this earlier listing (of refs, tags, holds and pins) instead of listing them. */
  listing?: PriorListing
}

/**
 * Read every ref, tag, hold and pin of `repo` and turn them into roots, walking each branch's
 * history as far as `retention` keeps it. A root object that cannot be decoded throws
 * `CorruptObjectError`: gc must not guess what a damaged root protects. A history parent that is
 * gone ends the walk quietly (an earlier gc freed it).
 */
export async function readRoots(ctx: RepoContext, opts: ReadRootsOptions = {}): Promise<RootScan> {
  const now = ctx.now().getTime()
  const policy = retentionOf(opts.retention)
  const store = ctx.store
  const [branchKind, tagKind, holdKind, pinKind] = ROOT_KINDS
  const [refs, tags, holds, pins] = await Promise.all([
    readAll(store, branchKind, opts.listing),
    readAll(store, tagKind, opts.listing),
    readAll(store, holdKind, opts.listing),
    readAll(store, pinKind, opts.listing),
  ])
  const heldBranches = new Set(holds.flatMap((h) => holdKind.heldBranch(h.record) ?? []))
  const live: VersionedRef[] = []
  const expired: VersionedRef[] = []
  const tombstones: VersionedRef[] = []
  for (const r of refs) {
    const ref = r.record
    if (!isOwnRefKey(store, r.key, ref.name)) continue // left by an interrupted upgrade
    const vr = { ref, version: r.version }
    if (isTombstone(ref)) {
      tombstones.push(vr)
      continue
    }
    if (opts.without?.has(ref.name)) continue
    const expiry = ref.expiresAt === null ? NaN : Date.parse(ref.expiresAt)
    const isExpired = (opts.expire ?? true) && expiry < now && !heldBranches.has(ref.name) && ref.name !== opts.protectedBranch
    ;(isExpired ? expired : live).push(vr)
  }

  const roots: Root[] = []
  const limit = pLimit(METADATA_READS)
  await Promise.all(
    live.map(({ ref }) => limit(async () => {
      const snapshots: RootSnapshot[] = [{ id: ref.head, via: 'head', depth: 0 }]
      if (ref.base !== ref.head) snapshots.push({ id: ref.base, via: 'base' })
      snapshots.push(...(await retainedHistory((id) => manifestOrNull(ctx, id), ref, policy, now, heldBranches.has(ref.name))))
      roots.push({ kind: 'branch', name: ref.name, key: refKey(ref.name), snapshots })
    })),
  )
  const targetRoots = <T>(spec: RootKindSpec<RootKind, T>, objects: readonly Keyed<T>[], name: (record: T, target: SnapshotId) => string): void => {
    for (const o of objects) {
      const id = spec.target(o.record)
      if (id) roots.push({ kind: spec.kind, name: name(o.record, id), key: o.key, snapshots: [{ id, via: 'target' }] })
    }
  }
  targetRoots(tagKind, tags, (t) => t.name)
  targetRoots(holdKind, holds, (_, id) => id)
  targetRoots(pinKind, pins, (p) => p.dependentStore.url)
  roots.sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.kind < b.kind ? -1 : 1))
  return {
    refs: live.sort((a, b) => (a.ref.name < b.ref.name ? -1 : 1)),
    expired,
    tombstones,
    tags: tags.map(({ key, record }) => ({ key, record })),
    holds: holds.map(({ key, record }) => ({ key, record })),
    pins: pins.map(({ key, record }) => ({ key, record })),
    roots,
  }
}

/**
 * The history behind `ref.head` that `policy` retains (the head itself excluded), newest first:
 * the walk follows `parent` links while the parent exists, was committed on the same branch and
 * is kept by the policy (or `keepAll`). `load` returns null for a snapshot that does not exist.
 */
export async function retainedHistory(
  load: (id: SnapshotId) => Promise<SnapshotManifest | null>,
  ref: Ref,
  policy: Required<RetentionPolicy>,
  nowMs: number,
  keepAll: boolean,
): Promise<RootSnapshot[]> {
  const out: RootSnapshot[] = []
  const head = await load(ref.head)
  // A missing head is damage that mark (or verify) reports; the branch then has no history here.
  let id: SnapshotId | null = head && head.branchId === ref.branchId ? head.parent : null
  for (let depth = 1; id !== null; depth++) {
    const m = await load(id)
    if (!m || m.branchId !== ref.branchId) break
    const age = nowMs - Date.parse(m.createdAt)
    if (!keepAll && depth >= policy.keepLast && !(age < policy.keepWithinMs)) break
    out.push({ id, via: 'history', depth })
    id = m.parent
  }
  return out
}

/** The manifest of `id`, or null if it does not exist (corrupt manifests still throw). */
export async function manifestOrNull(ctx: RepoContext, id: SnapshotId): Promise<SnapshotManifest | null> {
  try {
    return await ctx.chains.manifest(id)
  } catch (e) {
    if (isStrataError(e, 'STRATA_MISSING_OBJECT')) return null
    throw e
  }
}

async function readAll<T>(store: ObjectStore, { kind, prefix, decode }: RootKindSpec<RootKind, T>, listing: PriorListing | undefined): Promise<{ key: string; version: string; record: T }[]> {
  // Refs are thousands and come through their index; tags, holds and pins are few.
  const objects = kind === 'branch' ? await readRefObjects(store, listing) : await readObjects(store, prefix, listing?.objects)
  return objects.map(({ key, version, body }) => ({ key, version, record: decode(key, body) }))
}

/** The default grace period of gc and pin pruning: 15 minutes. */
export const DEFAULT_GRACE_MS = 15 * 60 * 1000
