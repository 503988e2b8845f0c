import { ChecksumMismatchError, CorruptObjectError, InvalidArgumentError, MissingObjectError, StoreNotAllowedError, isStrataError } from '../../errors/index.js'
import { decodeBaseStoreRecord, encodeBaseStoreRecord, type BaseStoreRecord } from '../../format/base-store-record.js'
import { bytesEqual, toHex } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import { baseStoreKey, segmentKey, snapshotKey } from '../../format/keys.js'
import { normalizeStoreUrl } from '../../format/store-ref.js'
import { ChainLoader, type StoreHandle } from '../read/chain.js'
import { crossStoreDependencies } from './cross-store.js'
import { type RepoContext, nowIso } from '../read/context.js'

/** What {@link repoint} checked and changed. */
export interface RepointResult {
  /** The base store moved. */
  storeId: string
  from: string
  to: string
  /** Base snapshots this store needs, each found at the new location with the same manifest and checksum. */
  snapshots: SnapshotId[]
  /** Segments of those snapshots found at the new location with at least their recorded length. */
  segments: number
}

/**
 * Tell this repository that a base store it stacks on moved from `oldUrl` to `newUrl`.
 *
 * Checks first, changes nothing unless all pass: `newUrl` must be allowed; the store there must
 * have the identity the fallbacks recorded (else `StoreNotAllowedError`: a different store, not a
 * move); and every base snapshot this store needs must be there with the same manifest (ids are
 * content hashes, so a manifest that loads is byte-identical), the checksum the local stub
 * recorded, and every segment its chain reads within that store present at its recorded length
 * (`MissingObjectError`, `ChecksumMismatchError`, `CorruptObjectError` otherwise).
 *
 * Then it moves the base-store record `bases/<storeId>` to `newUrl` by compare-and-swap. No
 * manifest changes — they stay immutable, and every snapshot of history that falls back into the
 * base follows the record — and the next read through this repository uses the new location.
 * `InvalidArgumentError` if no base store of this repository is at `oldUrl`.
 */
export async function repoint(ctx: RepoContext, oldUrl: string, newUrl: string): Promise<RepointResult> {
  const from = normalizeStoreUrl(oldUrl)
  const to = normalizeStoreUrl(newUrl)
  const resolver = ctx.allowlist
  if (!resolver) throw new StoreNotAllowedError({ url: to, reason: 'it is not on the allowlist of stores this repository may open' }, { hint: 'allow-store' })
  const deps = (await crossStoreDependencies(ctx, { check: false })).filter((d) => normalizeStoreUrl(d.url) === from)
  if (deps.length === 0) {
    throw new InvalidArgumentError({ argument: 'old URL', reason: `no base store of this repository is at ${from}` })
  }
  const opened = await resolver.open(to, deps[0]!.snapshots[0]?.snapshot)
  const dep = deps.find((d) => d.storeId === opened.id)
  if (!dep) {
    throw new StoreNotAllowedError({
      url: to,
      reason: `the store there has identity ${opened.id}, but the base at ${from} is ${deps.map((d) => d.storeId).join(', ')}: it is another store, not a move`,
    })
  }

  // Load through a private loader that reads only from the new location.
  const loader = new ChainLoader(opened, undefined)
  const segments = new Map<string, number>()
  for (const s of dep.snapshots) {
    const m = await loader.manifest(s.snapshot, opened, `base snapshot of this store at ${to}`).catch((e: unknown) => {
      if (isStrataError(e, 'STRATA_MISSING_OBJECT')) throw new MissingObjectError({ key: `${to}/${snapshotKey(s.snapshot)}`, referencedBy: `a fallback of this store (${s.dependents.length} snapshot(s))` })
      throw e
    })
    for (const local of s.dependents) {
      const stub = await ctx.chains.manifest(local)
      if (stub.pages.pageNos.length === 0 && stub.pageCount === m.pageCount && !bytesEqual(stub.checksum, m.checksum)) {
        throw new ChecksumMismatchError({ snapshot: s.snapshot, expected: toHex(stub.checksum), actual: toHex(m.checksum), operation: `repoint to ${to}` })
      }
    }
    // The chain within the moved store (a further store down the chain is not moved by this).
    let level: { id: SnapshotId; manifest: typeof m } | null = { id: s.snapshot, manifest: m }
    while (level) {
      for (const seg of level.manifest.segments) segments.set(seg.id, Math.max(segments.get(seg.id) ?? 0, seg.length))
      const fb = level.manifest.fallback
      if (!fb || (fb.store && fb.store.id !== opened.id)) break
      const next: SnapshotId = fb.snapshot
      level = { id: next, manifest: await loader.manifest(next, opened, `the fallback of ${snapshotKey(level.id)} at ${to}`) }
    }
  }
  await checkSegments(opened, to, segments)

  await moveRecord(ctx, dep.storeId, to)
  resolver.forget(dep.storeId)
  ctx.chains.forgetStore(dep.storeId)
  return { storeId: dep.storeId, from, to, snapshots: dep.snapshots.map((s) => s.snapshot), segments: segments.size }
}

async function checkSegments(store: StoreHandle, url: string, segments: Map<string, number>): Promise<void> {
  for (const [id, length] of segments) {
    const key = segmentKey(id as Parameters<typeof segmentKey>[0])
    const info = await store.store.head(key)
    if (!info) throw new MissingObjectError({ key: `${url}/${key}`, referencedBy: 'a base snapshot being repointed' })
    if (info.size < length) throw new CorruptObjectError({ key: `${url}/${key}`, reason: `segment is ${info.size} bytes, shorter than the ${length} its manifests record` })
  }
}

async function moveRecord(ctx: RepoContext, storeId: string, url: string): Promise<void> {
  const key = baseStoreKey(storeId)
  const now = nowIso(ctx)
  const got = await ctx.store.get(key)
  if (!got) {
    const record: BaseStoreRecord = { storeId, url, createdAt: now, updatedAt: now }
    await ctx.store.put(key, encodeBaseStoreRecord(record), { ifNoneMatch: '*' })
    return
  }
  const old = decodeBaseStoreRecord(key, got.body)
  await ctx.store.put(key, encodeBaseStoreRecord({ ...old, url, updatedAt: now }), { ifMatch: got.version })
}
