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
 * has no reasons; `graceUntil` says whether the grace period still protects it. Cost: the roots
 * as gc reads them, then one manifest read per snapshot the walks reach, however many roots share it.
 */
export async function whyAlive(ctx: RepoContext, spec: string, opts: WhyAliveOptions = {}): Promise<WhyAliveResult> {
  const target = await parseTarget(ctx, spec)
  const scan = await readRoots(ctx, { ...(opts.retention ? { retention: opts.retention } : {}), protectedBranch: MAIN_BRANCH })
  const walk = new ChainWalk(ctx, (m, id) => (target.kind === 'snapshot' ? id === target.id : m.segments.some((s) => s.id === target.id)))

  const reasons: AliveReason[] = []
  for (const root of scan.roots) {
    const history: AliveStep[] = []
    let found: AliveStep[] | null = null
    // Root snapshots come head first, then base, then history by depth: the first hit is the shortest path.
    for (const start of root.snapshots) {
      const lead: AliveStep[] = start.via === 'history' ? [...history] : []
      const path = await walk.pathTo(start.id, start.via, lead)
      if (start.via === 'head' || start.via === 'history') history.push({ snapshot: start.id, via: start.via, branchName: (await walk.visit(start.id))?.branchName ?? null })
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

/** What a walk needs of one snapshot: null if it does not exist. */
interface Visited {
  branchName: string | null
  /** It is (or references) the target. */
  hit: boolean
  /** Its fallback in this store (fallbacks into other stores are that store's business: gc never follows them). */
  next: SnapshotId | null
}

/**
 * Fallback chains walked for one run of why-alive. Thousands of roots share the same manifests,
 * which never change, so each snapshot is read once per run and whether its chain reaches the
 * target is decided once: the run costs one manifest read per snapshot, plus its output.
 */
class ChainWalk {
  readonly #visited = new Map<SnapshotId, Visited | null>()
  /** Whether the chain from a snapshot reaches the target. */
  readonly #reaches = new Map<SnapshotId, boolean>()

  constructor(
    readonly ctx: RepoContext,
    readonly hits: (m: SnapshotManifest, id: SnapshotId) => boolean,
  ) {}

  async visit(id: SnapshotId): Promise<Visited | null> {
    if (this.#visited.has(id)) return this.#visited.get(id)!
    const m = await manifestOrNull(this.ctx, id)
    const fb = m?.fallback
    const v = m && { branchName: m.branchName ?? null, hit: this.hits(m, id), next: fb && (!fb.store || fb.store.id === this.ctx.storeId) ? fb.snapshot : null }
    this.#visited.set(id, v)
    return v
  }

  /** Does the chain from `start` reach the target? Decided for every snapshot on the way, once. */
  async #reachesFrom(start: SnapshotId): Promise<boolean> {
    const walked: SnapshotId[] = []
    const onPath = new Set<SnapshotId>()
    let id: SnapshotId | null = start
    let reaches = false
    while (id !== null) {
      const known = this.#reaches.get(id)
      if (known !== undefined) {
        reaches = known
        break
      }
      if (onPath.has(id)) break // a cycle (a damaged store): it reaches nothing more
      onPath.add(id)
      walked.push(id)
      const v: Visited | null = await this.visit(id)
      if (!v) break
      if (v.hit) {
        reaches = true
        break
      }
      id = v.next
    }
    for (const w of walked) this.#reaches.set(w, reaches)
    return reaches
  }

  /** The path from `start` (reached `via`) along fallbacks to the first snapshot that hits, after `lead`; or null. */
  async pathTo(start: SnapshotId, via: RootEdge, lead: readonly AliveStep[]): Promise<AliveStep[] | null> {
    if (!(await this.#reachesFrom(start))) return null
    const path = [...lead]
    let how: AliveStep['via'] = via
    for (let id: SnapshotId | null = start; id !== null; how = 'fallback') {
      const v: Visited = (await this.visit(id))!
      path.push({ snapshot: id, via: how, branchName: v.branchName })
      if (v.hit) break
      id = v.next
    }
    return path
  }
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
