import { SnapshotNotFoundError, isStrataError } from '../../errors/index.js'
import { decodeHoldRecord, encodeHoldRecord, type HoldRecord } from '../../format/hold-record.js'
import { isSnapshotIdPrefix, type SnapshotId } from '../../format/ids.js'
import { HOLDS_PREFIX, branchHoldKey, snapshotHoldKey } from '../../format/keys.js'
import { validateName } from '../../format/names.js'
import type { Keyed } from './roots.js'
import { type RepoContext, nowIso } from '../read/context.js'
import { resolveTarget } from '../branches/resolve-target.js'
import { confirmNewRoot } from '../branches/intents.js'

/** Options for placing a hold. */
export interface HoldOptions {
  /** Why it is held (recorded, shown by `listHolds`). */
  reason?: string
  /** Hold the snapshot `spec` resolves to even when it names a branch (default: a branch name holds the branch). */
  snapshot?: boolean
}

/**
 * Place a hold. A branch name holds the branch: it never expires, cannot be deleted, and gc keeps
 * its whole history. Anything else (a snapshot id or unique prefix, or a branch with
 * `snapshot: true`) holds that snapshot and everything its chain reads, regardless of retention.
 * Idempotent: holding something already held returns the existing hold unchanged.
 */
export async function hold(ctx: RepoContext, spec: string, opts: HoldOptions = {}): Promise<Keyed<HoldRecord>> {
  const target = await resolveTarget(ctx, spec)
  const createdAt = nowIso(ctx)
  const reason = opts.reason ?? ''
  const [key, record]: [string, HoldRecord] =
    target.branch !== null && !opts.snapshot
      ? [branchHoldKey(target.branch), { target: 'branch', branch: target.branch, createdAt, reason }]
      : [snapshotHoldKey(target.snapshot), { target: 'snapshot', snapshot: target.snapshot, createdAt, reason }]
  try {
    await ctx.store.put(key, encodeHoldRecord(record), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const got = await ctx.store.get(key)
    return got ? { key, record: decodeHoldRecord(key, got.body) } : { key, record }
  }
  // A held snapshot may be kept by nothing else: a gc sweep already running could still free it.
  if (record.target === 'snapshot') await confirmNewRoot(ctx, 'hold', [record.snapshot], () => ctx.store.delete([key]))
  return { key, record }
}

/**
 * Remove a hold: on the branch named `spec` if there is one, otherwise on the snapshot `spec`
 * names (a full id or a prefix matching exactly one held snapshot). Returns the removed hold, or
 * null if `spec` held nothing. The branch or snapshot need not exist any more.
 */
export async function unhold(ctx: RepoContext, spec: string): Promise<Keyed<HoldRecord> | null> {
  const candidates: string[] = []
  let validName = true
  try {
    validateName(spec)
  } catch {
    validName = false
  }
  if (validName) candidates.push(branchHoldKey(spec))
  if (isSnapshotIdPrefix(spec)) {
    const prefix = snapshotHoldKey(spec as SnapshotId)
    const found: string[] = []
    for await (const o of ctx.store.list(prefix)) found.push(o.key)
    if (found.length > 1) throw new SnapshotNotFoundError({ ref: spec, candidates: found.map((k) => k.slice(prefix.length - spec.length)) })
    candidates.push(...found)
  }
  for (const key of candidates) {
    const got = await ctx.store.get(key)
    if (!got) continue
    const record = decodeHoldRecord(key, got.body)
    await ctx.store.delete([key])
    return { key, record }
  }
  return null
}

/** Every hold in the store, sorted by key. */
export async function listHolds(ctx: RepoContext): Promise<Keyed<HoldRecord>[]> {
  const out: Keyed<HoldRecord>[] = []
  for await (const o of ctx.store.list(HOLDS_PREFIX)) {
    const got = await ctx.store.get(o.key)
    if (got) out.push({ key: o.key, record: decodeHoldRecord(o.key, got.body) })
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1))
}

/** True if branch `name` is held. */
export async function isBranchHeld(ctx: RepoContext, name: string): Promise<boolean> {
  return (await ctx.store.head(branchHoldKey(name))) !== null
}
