import { InvalidArgumentError, SnapshotNotFoundError } from '../../errors/index.js'
import { isSegmentId, isSnapshotId, isSnapshotIdPrefix, type SegmentId, type SnapshotId } from '../../format/ids.js'
import { SEGMENTS_PREFIX, SNAPSHOTS_PREFIX, segmentKey, snapshotKey } from '../../format/keys.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import { DEFAULT_GRACE_MS } from '../reachability/roots.js'
import { MAIN_BRANCH } from '../../format/names.js'
import { manifestOrNull, readRoots, type RetentionPolicy, type RootEdge, type RootKind } from '../reachability/roots.js'
import { type RepoContext } from '../read/context.js'

/** One step of the path from a root to what it keeps alive. */
export interface AliveStep {
  snapshot: SnapshotId
  /** How the previous step (or the root) reaches this snapshot. */
  via: RootEdge | 'fallback'
  /** The branch the snapshot was committed on, as its manifest records. */
  branchName: string | null
}

/** One root that keeps the target alive, and how. */
export interface AliveReason {
  root: { kind: RootKind; name: string; key: string }
  /** From the snapshot the root names to the snapshot that is (or references) the target. */
  path: AliveStep[]
}

/** Why an object is (or is not) alive. */
export interface WhyAliveResult {
  kind: 'snapshot' | 'segment'
  id: string
  key: string
  /** The object is in the store. */
  exists: boolean
  size: number | null
  lastModified: string | null
  /** Some root keeps it: gc will not free it. */
  alive: boolean
  /** Every root that keeps it, each with its shortest path (history first, then fallbacks). */
  reasons: AliveReason[]
  /** When nothing keeps it but it is younger than the grace period: the time gc may free it from. */
  graceUntil: string | null
}

/** Options for why-alive. */
export interface WhyAliveOptions {
  /** The retention gc would use (default: gc's default). */
  retention?: RetentionPolicy
  /** The grace period gc would use (default 15 minutes). */
  graceMs?: number
}

/**
 * Explain why gc keeps a snapshot or segment: every root (branch head, base or retained history;
 * tag; hold; pin) that reaches it, each with the path of snapshots from the root to it. `spec`
 * is a snapshot id or unique prefix, a segment id, or a `snapshots/…` or `segments/…` key.
 * Roots are read as gc reads them (expired branches are not roots). An object no root reaches
 * has no reasons; `graceUntil` says whether the grace period still protects it.
 */
export async function whyAlive(ctx: RepoContext, spec: string, opts: WhyAliveOptions = {}): Promise<WhyAliveResult> {
  const target = await parseTarget(ctx, spec)
  const scan = await readRoots(ctx, { ...(opts.retention ? { retention: opts.retention } : {}), protectedBranch: MAIN_BRANCH })
  const hits = (m: SnapshotManifest, id: SnapshotId): boolean => (target.kind === 'snapshot' ? id === target.id : m.segments.some((s) => s.id === target.id))

  const reasons: AliveReason[] = []
  for (const root of scan.roots) {
    const history: AliveStep[] = []
    let found: AliveStep[] | null = null
    // Root snapshots come head first, then base, then history by depth: the first hit is the shortest path.
    for (const start of root.snapshots) {
      const lead: AliveStep[] = start.via === 'history' ? [...history] : []
      const path = await chainTo(ctx, start.id, start.via, lead, hits)
      if (start.via === 'head' || start.via === 'history') history.push(await step(ctx, start.id, start.via))
      if (path) {
        found = path
        break
      }
    }
    if (found) reasons.push({ root: { kind: root.kind, name: root.name, key: root.key }, path: found })
  }

  const info = await ctx.store.head(target.key)
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS
  const until = info ? info.lastModified.getTime() + graceMs : 0
  return {
    kind: target.kind,
    id: target.id,
    key: target.key,
    exists: info !== null,
    size: info?.size ?? null,
    lastModified: info?.lastModified.toISOString() ?? null,
    alive: reasons.length > 0,
    reasons,
    graceUntil: reasons.length === 0 && info && until > ctx.now().getTime() ? new Date(until).toISOString() : null,
  }
}

/** Walk the fallback chain from `start`; the path to the first snapshot that `hits`, or null. */
async function chainTo(ctx: RepoContext, start: SnapshotId, via: RootEdge, lead: AliveStep[], hits: (m: SnapshotManifest, id: SnapshotId) => boolean): Promise<AliveStep[] | null> {
  const path = [...lead]
  let id: SnapshotId | null = start
  let how: AliveStep['via'] = via
  const seen = new Set<string>()
  while (id && !seen.has(id)) {
    seen.add(id)
    const m = await manifestOrNull(ctx, id)
    path.push({ snapshot: id, via: how, branchName: m?.branchName ?? null })
    if (!m) return null
    if (hits(m, id)) return path
    const fb = m.fallback
    // Fallbacks into other stores are that store's business: gc never follows them.
    id = fb && (!fb.store || fb.store.id === ctx.storeId) ? fb.snapshot : null
    how = 'fallback'
  }
  return null
}

async function step(ctx: RepoContext, id: SnapshotId, via: AliveStep['via']): Promise<AliveStep> {
  return { snapshot: id, via, branchName: (await manifestOrNull(ctx, id))?.branchName ?? null }
}

async function parseTarget(ctx: RepoContext, spec: string): Promise<{ kind: 'snapshot' | 'segment'; id: string; key: string }> {
  const s = spec.startsWith(SEGMENTS_PREFIX) || spec.startsWith(SNAPSHOTS_PREFIX) ? spec.slice(spec.indexOf('/') + 1) : spec
  if (!spec.startsWith(SNAPSHOTS_PREFIX) && isSegmentId(s)) return { kind: 'segment', id: s, key: segmentKey(s as SegmentId) }
  if (isSnapshotId(s)) return { kind: 'snapshot', id: s, key: snapshotKey(s) }
  if (isSnapshotIdPrefix(s)) {
    const found: string[] = []
    for await (const o of ctx.store.list(SNAPSHOTS_PREFIX + s)) {
      found.push(o.key.slice(SNAPSHOTS_PREFIX.length))
      if (found.length > 5) break
    }
    if (found.length === 1 && isSnapshotId(found[0]!)) return { kind: 'snapshot', id: found[0], key: snapshotKey(found[0]) }
    throw new SnapshotNotFoundError({ ref: spec, ...(found.length > 1 ? { candidates: found } : {}) })
  }
  throw new InvalidArgumentError({ argument: 'object', reason: `${JSON.stringify(spec)} is not a snapshot id or prefix, a segment id, or a snapshots/… or segments/… key` })
}
