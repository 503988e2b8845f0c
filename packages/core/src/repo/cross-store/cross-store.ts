import { StoreNotAllowedError, isStrataError } from '../../errors/index.js'
import { decodeBaseStoreRecord, encodeBaseStoreRecord, type BaseStoreRecord } from '../../format/base-store-record.js'
import type { SnapshotId } from '../../format/ids.js'
import { BASES_PREFIX, baseStoreKey, pinKey } from '../../format/keys.js'
import { encodeManifest, type EncodedManifest, type SnapshotManifest } from '../../format/manifest.js'
import { EMPTY_PAGE_TABLE } from '../../format/page-table.js'
import { encodePinRecord } from '../../format/pin-record.js'
import { formatStoreRef, normalizeStoreUrl, type StoreRef } from '../../format/store-ref.js'
import type { ObjectStore } from '../../store/object-store.js'
import type { ChainLevel, StoreHandle } from '../read/chain.js'
import { emptyMarkSet, markSnapshots, rootStarts, type MarkSet } from '../reachability/mark.js'
import { MAIN_BRANCH } from '../../format/names.js'
import type { Target } from '../read/chain.js'
import { readRoots } from '../reachability/roots.js'
import { confirmNewRoot } from '../branches/intents.js'
import { type RepoContext, nowIso, openContext } from '../read/context.js'
import { resolveTarget } from '../branches/resolve-target.js'
import { type CrossStoreSource } from '../branches/branches.js'
import { putManifest } from '../write/publish-snapshot.js'

// Stacking across stores
// ----------------------
// A branch created from `<store-url>#<branch-or-snapshot>` gets a local *stub* snapshot: a
// manifest that owns no page, has the base's page size, page count and checksum, and falls back
// to `{snapshot: base, store: {url, id}}`. The new ref's head and base are the stub, so commits
// are local deltas against it and reads cross into the base store for every page the branch has
// not written. Nothing is copied; the base's manifest is read once.
//
// The stub's content depends only on the base snapshot and the base store's identity and URL, so
// every branch of this store stacked on the same base shares one stub (and one pin there).
//
// Identity and location: the fallback records the base store's UUID (from its format marker)
// and its URL at creation. Manifests are immutable, so the base's *current* location lives in a
// small mutable record, `bases/<storeId>` = {url}, written here at creation and moved by
// `repoint` (compare-and-swap). The resolver reads it to find the store, opens the store only if
// that URL is on the allowlist, and the chain loader checks that the store there still has the
// recorded identity — a swapped bucket is refused, never served.
//
// Pins: the base store cannot see this store's refs, so creating the branch writes
// `pins/<thisStoreId>/<baseSnapshot>` in the base (gc there treats pins as roots). A base that
// refuses writes (access denied) or a caller passing `pin: false` leaves the dependency
// unpinned; `show` and `crossStoreDependencies` say so. `prunePins` removes pins this store no
// longer needs, once no live root of it reaches them.


/** Options for stacking on another store. */
export interface StackOptions {
  /** Write a pin in the base store (default true). A base that denies writes is left unpinned. */
  pin?: boolean
}

/**
 * Resolve `source` (a branch or snapshot in another store), write this store's stub for it, pin
 * the base snapshot there (unless told not to, or denied), and return the stub as the target to
 * branch from. The base store must be allowed (`StoreNotAllowedError` before any request to it
 * otherwise). If the URL turns out to name this very store, the target is resolved locally and
 * nothing is written. Order: base-store record, pin, stub — all before the caller creates the ref,
 * so a ref never points at an unprotected or missing stub.
 */
export async function stackOnOtherStore(ctx: RepoContext, source: StoreRef, opts: StackOptions = {}): Promise<Target & { crossStore: CrossStoreSource | null }> {
  if (normalizeStoreUrl(ctx.store.url) === source.store) return { ...(await resolveTarget(ctx, source.target)), crossStore: null }
  const resolver = ctx.allowlist
  if (!resolver) {
    throw new StoreNotAllowedError({ url: source.store, snapshot: source.target, reason: 'cross-store branches are not allowed (no store is on the allowlist)' }, { hint: 'allow-store' })
  }
  const base = await resolver.open(source.store, source.target)
  if (base.id === ctx.storeId) return { ...(await resolveTarget(ctx, source.target)), crossStore: null }

  const target = await resolveTarget(await openContext(base.store), source.target)
  const manifest = await ctx.chains.manifest(target.snapshot, base)
  const recorded = { url: source.store, id: base.id }

  await recordBaseStore(ctx, recorded)
  let pinned = false
  let unpinnedReason: string | null = null
  if (opts.pin === false) {
    // Another branch of this store may have pinned the same base snapshot already.
    pinned = (await hasPin(base, ctx.storeId, target.snapshot)) === true
    if (!pinned) unpinnedReason = 'not requested (pin: false)'
  } else {
    try {
      await writePin(ctx, base.store, target.snapshot)
      // The pin is a root from now on, but a sweep of the base store that read its roots before
      // may still free the snapshot: wait it out, then check (the protocol of gc.ts).
      await confirmNewRoot(ctx, 'branch create', [target.snapshot], () => base.store.delete([pinKey(ctx.storeId, target.snapshot)]), base)
      pinned = true
      unpinnedReason = null
    } catch (e) {
      if (!isAccessDenied(e)) throw e
      unpinnedReason = `the base store refused the write: ${e instanceof Error ? e.message : String(e)}`
    }
  }
  const stub = stubManifest(manifest, target.snapshot, recorded)
  await putManifest(ctx, stub.id, stub.bytes)
  return {
    snapshot: stub.id,
    branch: target.branch === null ? null : formatStoreRef({ store: source.store, target: target.branch }),
    crossStore: { store: recorded, snapshot: target.snapshot, branch: target.branch, stub: stub.id, pinned, unpinnedReason },
  }
}

/**
 * The stub manifest for stacking on `baseId` (whose manifest is `base`) in store `store`: no
 * pages, the base's size and checksum, a fallback into that store. Deterministic, so branches on
 * the same base share it.
 */
export function stubManifest(base: SnapshotManifest, baseId: SnapshotId, store: { url: string; id: string }): EncodedManifest {
  return encodeManifest({
    pageSize: base.pageSize,
    pageCount: base.pageCount,
    fallback: { snapshot: baseId, store: { url: store.url, id: store.id } },
    branchId: null,
    branchName: null,
    parent: null,
    message: `stacks on snapshot ${baseId} of ${store.url}`,
    author: base.author,
    createdAt: base.createdAt,
    tags: [],
    operation: 'stack',
    checksum: base.checksum,
    segments: [],
    pages: EMPTY_PAGE_TABLE,
  })
}

/**
 * Write `bases/<id>` = {url} unless the store already has a record for that base (which may have
 * been moved by `repoint`: it is left alone).
 */
export async function recordBaseStore(ctx: RepoContext, store: { url: string; id: string }): Promise<void> {
  const now = nowIso(ctx)
  const record: BaseStoreRecord = { storeId: store.id, url: store.url, createdAt: now, updatedAt: now }
  try {
    await ctx.store.put(baseStoreKey(store.id), encodeBaseStoreRecord(record), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
  }
}

/** Every base-store record of `repo`. */
export async function listBaseStores(ctx: RepoContext): Promise<BaseStoreRecord[]> {
  const out: BaseStoreRecord[] = []
  for await (const o of ctx.store.list(BASES_PREFIX)) {
    const got = await ctx.store.get(o.key)
    if (got) out.push(decodeBaseStoreRecord(o.key, got.body))
  }
  return out
}

/**
 * Pin `snapshot` of `baseStore` for `repo`'s store. An unconditional put, so re-pinning refreshes
 * the pin's time (which `prunePins` compares before deleting one).
 */
export async function writePin(ctx: RepoContext, baseStore: ObjectStore, snapshot: SnapshotId): Promise<void> {
  const body = encodePinRecord({ snapshot, dependentStore: { url: normalizeStoreUrl(ctx.store.url), id: ctx.storeId }, createdAt: nowIso(ctx) })
  await baseStore.put(pinKey(ctx.storeId, snapshot), body)
}

/**
 * True if `e` (or an error in its `cause` chain) says the store denied access: a filesystem
 * `EACCES`/`EPERM`/`EROFS`, or an S3 `AccessDenied`/403.
 */
export function isAccessDenied(e: unknown): boolean {
  let c: unknown = e
  for (let depth = 0; c && typeof c === 'object' && depth < 6; depth++) {
    const x = c as { code?: unknown; name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown }
    if (x.code === 'EACCES' || x.code === 'EPERM' || x.code === 'EROFS') return true
    if (x.name === 'AccessDenied' || x.Code === 'AccessDenied' || x.name === 'AllAccessDisabled' || x.name === 'Forbidden') return true
    if (x.$metadata?.httpStatusCode === 403) return true
    c = x.cause
  }
  return false
}

/** A fallback in a chain that crosses into another store. */
export interface CrossStoreLink {
  /** The snapshot whose fallback crosses, and the store it is in. */
  from: { snapshot: SnapshotId; store: string }
  /** The store read from: where it was found now, and the identity the fallback recorded. */
  store: { url: string; id: string }
  /** The URL the fallback recorded (differs from `store.url` after a repoint). */
  recordedUrl: string
  /** The snapshot in that store. */
  snapshot: SnapshotId
  /** Whether that store holds a pin for it on behalf of the `from` store; null if it could not be checked. */
  pinned: boolean | null
}

/** The cross-store fallbacks of a resolved chain, with the pin status of each (one HEAD each). */
export async function crossStoreLinks(levels: readonly ChainLevel[]): Promise<CrossStoreLink[]> {
  const out: CrossStoreLink[] = []
  for (let i = 0; i + 1 < levels.length; i++) {
    const from = levels[i]!
    const to = levels[i + 1]!
    const fb = from.manifest.fallback
    if (!fb?.store || to.store.id === from.store.id) continue
    out.push({
      from: { snapshot: from.id, store: from.store.store.url },
      store: { url: to.store.store.url, id: to.store.id },
      recordedUrl: fb.store.url,
      snapshot: fb.snapshot,
      pinned: await hasPin(to.store, from.store.id, fb.snapshot),
    })
  }
  return out
}

async function hasPin(base: StoreHandle, dependentId: string, snapshot: SnapshotId): Promise<boolean | null> {
  try {
    return (await base.store.head(pinKey(dependentId, snapshot))) !== null
  } catch {
    return null
  }
}

/** How a dependency's store looks from here. */
export type DependencyStatus =
  /** Opened, identity matches. */
  | 'ok'
  /** Its URL is not on the allowlist (nothing was sent to it). */
  | 'not-allowed'
  /** Allowed, but it could not be read. */
  | 'unreachable'
  /** The store at that URL has another identity. */
  | 'swapped'
  /** Not checked (`check: false`). */
  | 'unchecked'

/** One other store this repository stacks on, and what it needs there. */
export interface CrossStoreDependency {
  /** The base store's identity. */
  storeId: string
  /** Where it is read from now: its base-store record, else the URL its fallbacks recorded. */
  url: string
  /** URLs the fallbacks recorded (more than one if branches were created under several). */
  recordedUrls: string[]
  status: DependencyStatus
  /** Why the status is not `ok`. */
  error: string | null
  /** Base snapshots some live snapshot here falls back to, with those local snapshots. */
  snapshots: { snapshot: SnapshotId; dependents: SnapshotId[]; pinned: boolean | null }[]
}

/**
 * The other stores this repository depends on: every cross-store fallback reachable from its
 * roots (refs — expired ones too, until gc removes them — with retained history, tags, holds and
 * pins), grouped by base store, plus base stores it has a record of but no longer needs (with no
 * snapshots). With `check` (default true) each allowed base is opened to confirm its identity
 * and whether each snapshot is pinned; a disallowed one is never contacted. Damage in this store
 * is skipped here (verify reports it). `marks`: a mark of this store's roots already made (by
 * stats), so it is not repeated.
 */
export async function crossStoreDependencies(ctx: RepoContext, opts: { check?: boolean; marks?: MarkSet } = {}): Promise<CrossStoreDependency[]> {
  let marks = opts.marks
  if (!marks) {
    const scan = await readRoots(ctx, { expire: false, protectedBranch: MAIN_BRANCH })
    marks = await markSnapshots(ctx, rootStarts(scan.roots), emptyMarkSet(), { strict: false })
  }
  const byStore = new Map<string, { recorded: Set<string>; snapshots: Map<SnapshotId, SnapshotId[]> }>()
  const entry = (id: string): { recorded: Set<string>; snapshots: Map<SnapshotId, SnapshotId[]> } => {
    let e = byStore.get(id)
    if (!e) byStore.set(id, (e = { recorded: new Set(), snapshots: new Map() }))
    return e
  }
  for (const c of marks.crossStore) {
    const e = entry(c.fallback.store!.id)
    e.recorded.add(c.fallback.store!.url)
    const deps = e.snapshots.get(c.fallback.snapshot) ?? []
    deps.push(c.snapshot)
    e.snapshots.set(c.fallback.snapshot, deps)
  }
  const records = new Map((await listBaseStores(ctx)).map((r) => [r.storeId, r]))
  for (const id of records.keys()) entry(id)

  const out: CrossStoreDependency[] = []
  for (const [storeId, e] of [...byStore].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const recordedUrls = [...e.recorded].sort()
    const url = records.get(storeId)?.url ?? recordedUrls[0] ?? ''
    const snapshots = [...e.snapshots].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([snapshot, dependents]) => ({ snapshot, dependents: dependents.sort(), pinned: null as boolean | null }))
    const dep: CrossStoreDependency = { storeId, url, recordedUrls, status: 'unchecked', error: null, snapshots }
    if (opts.check !== false) await checkDependency(ctx, dep)
    out.push(dep)
  }
  return out
}

async function checkDependency(ctx: RepoContext, dep: CrossStoreDependency): Promise<void> {
  const resolver = ctx.settings.fallbackStores
  const probe = (dep.snapshots[0]?.snapshot ?? '-') as SnapshotId
  if (!resolver || (ctx.allowlist && !ctx.allowlist.isAllowed(dep.url))) {
    dep.status = 'not-allowed'
    dep.error = `${dep.url} is not on the allowlist`
    return
  }
  let handle: StoreHandle
  try {
    handle = await resolver({ url: dep.url, id: dep.storeId }, probe, ctx.handle)
  } catch (e) {
    // The allowlist was checked above; only a custom resolver refuses here for policy reasons.
    dep.status = isStrataError(e, 'STRATA_STORE_NOT_ALLOWED') && !ctx.allowlist ? 'not-allowed' : 'unreachable'
    dep.error = e instanceof Error ? e.message : String(e)
    return
  }
  if (handle.id !== dep.storeId) {
    dep.status = 'swapped'
    dep.error = `the store at ${handle.store.url} has identity ${handle.id}, not ${dep.storeId}`
    return
  }
  dep.status = 'ok'
  for (const s of dep.snapshots) s.pinned = await hasPin(handle, ctx.storeId, s.snapshot)
}
