import { InvalidArgumentError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import { PINS_PREFIX, pinsOfStorePrefix, snapshotKey } from '../../format/keys.js'
import { decodePinRecord, type PinRecord } from '../../format/pin-record.js'
import { normalizeStoreUrl } from '../../format/store-ref.js'
import type { StoreHandle } from '../read/chain.js'
import { crossStoreDependencies, listBaseStores } from './cross-store.js'
import { DEFAULT_GRACE_MS } from '../reachability/roots.js'
import { type RepoContext } from '../read/context.js'

/** A pin held in this store for another store that stacks on it. */
export interface PinInfo extends PinRecord {
  key: string
  /** When the pin was last written. */
  lastModified: string
  /** Whether the pinned snapshot still exists here (false: the pin protects nothing). */
  snapshotExists: boolean
}

/** Every pin in `repo`'s store (the snapshots other stores stack on), sorted by key. */
export async function listPins(ctx: RepoContext): Promise<PinInfo[]> {
  const out: PinInfo[] = []
  for await (const o of ctx.store.list(PINS_PREFIX)) {
    const got = await ctx.store.get(o.key)
    if (!got) continue
    const pin = decodePinRecord(o.key, got.body)
    const exists = (await ctx.store.head(snapshotKey(pin.snapshot))) !== null
    out.push({ ...pin, key: o.key, lastModified: o.lastModified.toISOString(), snapshotExists: exists })
  }
  return out
}

/** Which pins {@link removePins} removes. At least one field must be given. */
export interface PinSelector {
  /** The dependent store: its id, or its URL. */
  store?: string
  /** The pinned snapshot: an id, or a prefix of at least 4 hex digits. */
  snapshot?: string
}

/**
 * Remove the pins of this store that match `selector` and return them. The snapshots they kept
 * become garbage for the next gc unless something else keeps them — a dependent store still
 * stacked on them then fails with `MissingObjectError`, so remove a pin only for a dependent that
 * is gone or has materialized (`prunePins` in the dependent store is the safe way).
 */
export async function removePins(ctx: RepoContext, selector: PinSelector): Promise<PinInfo[]> {
  if (!selector.store && !selector.snapshot) {
    throw new InvalidArgumentError({ argument: 'pin', reason: 'name the dependent store (id or URL) and/or the snapshot of the pins to remove' })
  }
  const storeUrl = selector.store && /[:/]/.test(selector.store) ? normalizeStoreUrl(selector.store) : null
  const matches = (await listPins(ctx)).filter(
    (p) =>
      (!selector.store || p.dependentStore.id === selector.store || (storeUrl !== null && normalizeStoreUrl(p.dependentStore.url) === storeUrl)) &&
      (!selector.snapshot || p.snapshot.startsWith(selector.snapshot)),
  )
  if (matches.length > 0) await ctx.store.delete(matches.map((p) => p.key))
  return matches
}

/** Options for {@link prunePins}. */
export interface PrunePinsOptions {
  /** Report what would be removed; remove nothing. */
  dryRun?: boolean
  /** Keep pins written less than this many ms ago (a branch being created right now). Default gc's 15 minutes. */
  graceMs?: number
}

/** One pin this store holds in a base store. */
export interface HeldPin {
  storeId: string
  url: string
  snapshot: SnapshotId
  key: string
}

/** What {@link prunePins} did. */
export interface PrunePinsResult {
  dryRun: boolean
  /** Pins removed (or, in a dry run, that would be): no live snapshot here falls back to them. */
  removed: HeldPin[]
  /** Pins still needed, or younger than the grace period. */
  kept: (HeldPin & { reason: 'needed' | 'grace' | 'changed' })[]
  /** Base stores that could not be checked (not allowed, unreachable, swapped). */
  skipped: { storeId: string; url: string; reason: string }[]
}

/**
 * In a store that stacks on others: remove the pins it holds in its base stores that none of its
 * live snapshots needs any more (after its last branch on a base was deleted or materialized and,
 * for history, once retention lets go). Base stores come from this store's base-store records;
 * each must be allowed. Order, so a branch created meanwhile keeps its pin: list the pins (with
 * versions), then mark this store's roots, then delete an unneeded pin only if it is older than
 * the grace period and still at the listed version. Idempotent.
 */
export async function prunePins(ctx: RepoContext, opts: PrunePinsOptions = {}): Promise<PrunePinsResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS
  if (!(graceMs >= 0)) throw new InvalidArgumentError({ argument: 'graceMs', reason: `${graceMs} is not a duration ≥ 0` })
  const result: PrunePinsResult = { dryRun: opts.dryRun ?? false, removed: [], kept: [], skipped: [] }
  const resolver = ctx.settings.fallbackStores
  const listed: { base: StoreHandle; url: string; pin: HeldPin; version: string; lastModified: number }[] = []
  for (const record of await listBaseStores(ctx)) {
    let base: StoreHandle
    try {
      if (!resolver) throw new Error('no store is on the allowlist')
      base = await resolver({ url: record.url, id: record.storeId }, '-' as SnapshotId, ctx.handle)
      if (base.id !== record.storeId) throw new Error(`the store there has identity ${base.id}, not ${record.storeId}`)
    } catch (e) {
      result.skipped.push({ storeId: record.storeId, url: record.url, reason: e instanceof Error ? e.message : String(e) })
      continue
    }
    const prefix = pinsOfStorePrefix(ctx.storeId)
    for await (const o of base.store.list(prefix)) {
      const snapshot = o.key.slice(prefix.length) as SnapshotId
      listed.push({ base, url: base.store.url, pin: { storeId: record.storeId, url: base.store.url, snapshot, key: o.key }, version: o.version, lastModified: o.lastModified.getTime() })
    }
  }
  if (listed.length === 0) return result

  const needed = new Set<string>()
  for (const d of await crossStoreDependencies(ctx, { check: false })) {
    for (const s of d.snapshots) needed.add(`${d.storeId}/${s.snapshot}`)
  }
  const now = ctx.now().getTime()
  for (const l of listed) {
    if (needed.has(`${l.pin.storeId}/${l.pin.snapshot}`)) {
      result.kept.push({ ...l.pin, reason: 'needed' })
    } else if (graceMs > 0 && now - l.lastModified < graceMs) {
      result.kept.push({ ...l.pin, reason: 'grace' })
    } else if (result.dryRun) {
      result.removed.push(l.pin)
    } else {
      // Re-written since the listing: a branch on that base is being created right now.
      const head = await l.base.store.head(l.pin.key)
      if (head && head.version !== l.version) {
        result.kept.push({ ...l.pin, reason: 'changed' })
        continue
      }
      if (head) await l.base.store.delete([l.pin.key])
      result.removed.push(l.pin)
    }
  }
  return result
}
