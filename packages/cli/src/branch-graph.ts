import type { BranchInfo, Repository, SnapshotId, SnapshotManifest, StatsResult } from '@strata/core'

/** What a branch is stacked on: the branch whose snapshot its commits stack on, or nothing. */
export type GraphParent =
  /** A snapshot of a live branch of this store (`atHead`: still that branch's head). */
  | { kind: 'branch'; branch: string; snapshot: SnapshotId; atHead: boolean }
  /** A snapshot of a branch that no longer exists (its name when the snapshot was made). */
  | { kind: 'deleted'; branchName: string | null; snapshot: SnapshotId }
  /** A snapshot in another store (a cross-store base). */
  | { kind: 'store'; store: { url: string; id: string }; snapshot: SnapshotId; pinned: boolean | null }

/** One level of a branch's read chain, newest first. */
export interface GraphChainLevel {
  snapshot: SnapshotId
  /** The branch that committed it (its current name if it still exists, else the name it had), null if unknown. */
  branch: string | null
  /** Null in this store; the store's URL for a level in another store (the chain is not followed further there). */
  store: string | null
}

/** One branch in the graph. */
export interface GraphBranch {
  name: string
  branchId: string
  head: SnapshotId
  base: SnapshotId
  /** Null for a standalone branch (imported, or materialized). */
  parent: GraphParent | null
  /** The snapshots a read walks, the head first, as far as this store's manifests tell. */
  chain: GraphChainLevel[]
  /** Levels a read walks in all (from `stats`; counts levels in other stores too). */
  chainDepth: number
  pageSize: number
  pageCount: number
  /**
   * Pages and bytes of the branch's own snapshots in its chain (its commits' delta, plus its base
   * when it is standalone): 0 for a branch that has not committed since it was created.
   */
  ownPages: number
  ownBytes: number
  /** Bytes read from ancestors. */
  sharedBytes: number
  /** Bytes that deleting the branch (then gc) would free. */
  exclusiveBytes: number
  /** Snapshots of retained history behind the head. */
  historySnapshots: number
  createdAt: string
  updatedAt: string
  /** When gc deletes it (a TTL), or null. */
  expiresAt: string | null
  held: boolean
  /** Why its manifests could not be read, or null. */
  error: string | null
}

/** The branches of a store as a forest: each branch with what it stacks on and what it costs. */
export interface BranchGraph {
  /** The store's URL. */
  store: string
  /** When the graph was read (ages are relative to it). */
  readAt: string
  branches: GraphBranch[]
}

/**
 * Read the branch graph of `repo` from manifests alone — no page is read: the branch list, the
 * manifests of each head's chain in this store (not followed into other stores), and `stats` for
 * the sizes, holds and depths. `branches` limits the per-branch figures (the graph still names
 * every branch that is one of their parents). A branch whose manifests cannot be read is listed
 * with `error` set instead of failing the whole graph.
 */
export async function readBranchGraph(repo: Repository, opts: { stats?: StatsResult } = {}): Promise<BranchGraph> {
  const [infos, stats] = await Promise.all([repo.listBranches(), opts.stats ? Promise.resolve(opts.stats) : repo.stats()])
  const byId = new Map(infos.map((b) => [b.branchId, b]))
  const statsByName = new Map(stats.branches.map((b) => [b.name, b]))
  const pinned = new Map<string, boolean | null>()
  for (const dep of stats.crossStore) for (const s of dep.snapshots) pinned.set(`${dep.storeId}/${s.snapshot}`, s.pinned)
  const manifests = new Map<SnapshotId, Promise<SnapshotManifest>>()
  const manifest = (id: SnapshotId): Promise<SnapshotManifest> => {
    let m = manifests.get(id)
    if (!m) manifests.set(id, (m = repo.snapshot(id)))
    return m
  }
  const ownerName = (m: SnapshotManifest): string | null => (m.branchId !== null ? byId.get(m.branchId)?.name : undefined) ?? m.branchName
  const branches = await mapLimit(infos, repo.options.concurrency, async (info): Promise<GraphBranch> => {
        const s = statsByName.get(info.name)
        let parent: GraphParent | null = null
        const chain: GraphChainLevel[] = []
        let error: string | null = null
        let ownPages = 0
        let pageSize = 0
        try {
          for (let id: SnapshotId | null = info.head; id !== null; ) {
            const m = await manifest(id)
            chain.push({ snapshot: id, branch: ownerName(m), store: null })
            pageSize = m.pageSize
            if (m.branchId === info.branchId) ownPages += m.pages.pageNos.length
            const fb = m.fallback
            if (fb?.store) chain.push({ snapshot: fb.snapshot, branch: null, store: fb.store.url })
            id = fb && !fb.store ? fb.snapshot : null
          }
          parent = await parentOf(info, await manifest(info.base), byId, pinned)
        } catch (e) {
          error = e instanceof Error ? e.message : String(e)
        }
        return {
          name: info.name,
          branchId: info.branchId,
          head: info.head,
          base: info.base,
          parent,
          chain,
          chainDepth: s?.chainDepth ?? chain.length,
          pageSize: s?.pageSize ?? pageSize,
          pageCount: s?.pageCount ?? 0,
          ownPages,
          ownBytes: ownPages * pageSize,
          sharedBytes: s?.sharedBytes ?? 0,
          exclusiveBytes: s?.exclusiveBytes ?? 0,
          historySnapshots: s?.historySnapshots ?? 0,
          createdAt: info.createdAt,
          updatedAt: info.updatedAt,
          expiresAt: info.expiresAt,
          held: s?.held ?? false,
          error,
        }
  })
  return { store: repo.store.url, readAt: repo.nowIso(), branches }
}

/** `fn` over `items` with at most `n` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker))
  return out
}

async function parentOf(info: BranchInfo, base: SnapshotManifest, byId: ReadonlyMap<string, BranchInfo>, pinned: ReadonlyMap<string, boolean | null>): Promise<GraphParent | null> {
  const fb = base.fallback
  // A branch created from another store starts at a local stub that falls back into that store.
  if (fb?.store) return { kind: 'store', store: fb.store, snapshot: fb.snapshot, pinned: pinned.get(`${fb.store.id}/${fb.snapshot}`) ?? null }
  if (base.branchId === info.branchId) return null
  const owner = base.branchId !== null ? byId.get(base.branchId) : undefined
  if (owner) return { kind: 'branch', branch: owner.name, snapshot: info.base, atHead: owner.head === info.base }
  return { kind: 'deleted', branchName: base.branchName, snapshot: info.base }
}

/** Names in a stable order, numbers in them as numbers (`ci-2` before `ci-10`). */
const NAME_ORDER = new Intl.Collator('en', { numeric: true })

/** A node of the graph drawn as a tree: a branch, or a root that is not a branch of this store. */
export interface GraphNode {
  /** Stable id: `b:<name>`, `d:<snapshot>` (a deleted branch's snapshot), `s:<url>` (another store). */
  id: string
  kind: 'branch' | 'deleted' | 'store'
  /** The branch name, `<name>@<snapshot>` of a deleted branch, or the store's URL. */
  label: string
  branch: GraphBranch | null
  children: GraphNode[]
}

/**
 * The graph as a forest: standalone branches, snapshots of deleted branches and other stores are
 * roots; each branch hangs under what it stacks on. Siblings are sorted by name, numbers in names as numbers.
 */
export function graphForest(graph: BranchGraph): GraphNode[] {
  const nodes = new Map<string, GraphNode>()
  const roots: GraphNode[] = []
  for (const b of graph.branches) nodes.set(`b:${b.name}`, { id: `b:${b.name}`, kind: 'branch', label: b.name, branch: b, children: [] })
  for (const b of graph.branches) {
    const node = nodes.get(`b:${b.name}`)!
    const p = b.parent
    if (!p) {
      roots.push(node)
      continue
    }
    let parentId: string
    if (p.kind === 'branch') parentId = `b:${p.branch}`
    else if (p.kind === 'deleted') parentId = `d:${p.snapshot}`
    else parentId = `s:${p.store.url}`
    let parent = nodes.get(parentId)
    if (!parent) {
      const label = p.kind === 'deleted' ? `${p.branchName ?? '(unnamed)'}@${p.snapshot.slice(0, 12)} (deleted branch)` : p.kind === 'store' ? `${p.store.url} (other store)` : parentId
      parent = { id: parentId, kind: p.kind === 'store' ? 'store' : 'deleted', label, branch: null, children: [] }
      nodes.set(parentId, parent)
      roots.push(parent)
    }
    parent.children.push(node)
  }
  const byLabel = (a: GraphNode, b: GraphNode): number => NAME_ORDER.compare(a.label, b.label)
  for (const n of nodes.values()) n.children.sort(byLabel)
  return roots.sort((a, b) => (a.kind === b.kind ? byLabel(a, b) : a.kind === 'branch' ? -1 : b.kind === 'branch' ? 1 : byLabel(a, b)))
}

/** Sibling leaves sharing a name stem, shown as one line, node or folded list. */
export interface CollapsedGroup {
  stem: string
  branches: GraphBranch[]
}

/** `ci-` for `ci-41`, `feature/` for `feature/login`; null when a name has no stem to group by. */
function stemOf(name: string): string | null {
  const digits = /^(.*?[^0-9])[0-9]+$/.exec(name)
  if (digits) return digits[1]!
  const slash = name.lastIndexOf('/')
  return slash > 0 ? name.slice(0, slash + 1) : null
}

/**
 * Split `children` into nodes shown one by one and groups of more than `above` leaf branches
 * sharing a name stem (`ci-1`, `ci-2`, … → `ci-`), shown as one. Branches in `protect` stay single.
 */
export function grouped(children: readonly GraphNode[], above: number, protect: ReadonlySet<string>): (GraphNode | CollapsedGroup)[] {
  const stems = new Map<string, GraphNode[]>()
  for (const c of children) {
    const stem = c.kind === 'branch' && c.children.length === 0 && !protect.has(c.label) ? stemOf(c.label) : null
    if (stem !== null) stems.set(stem, [...(stems.get(stem) ?? []), c])
  }
  const out: (GraphNode | CollapsedGroup)[] = []
  const done = new Set<string>()
  for (const c of children) {
    const stem = c.kind === 'branch' && c.children.length === 0 && !protect.has(c.label) ? stemOf(c.label) : null
    const members = stem !== null ? stems.get(stem)! : []
    if (stem !== null && members.length > above) {
      if (!done.has(stem)) out.push({ stem, branches: members.map((m) => m.branch!) })
      done.add(stem)
    } else out.push(c)
  }
  return out
}

