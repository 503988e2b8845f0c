import type { BranchId, SegmentId, SnapshotId } from '../../format/ids.js'
import type { MarkSet } from './mark.js'
import type { RootScan } from './roots.js'

/** The owner of an object that more than one root keeps. */
export const SHARED = -1

/** For each object the roots keep: the index (into `scan.roots`) of the one root that keeps it, or {@link SHARED}. */
export interface SoleOwners {
  snapshots: Map<SnapshotId, number>
  segments: Map<SegmentId, number>
  branches: Map<BranchId, number>
}

/**
 * Which root alone keeps each object: one walk per root down the fallback chains of its
 * snapshots, over the manifests `marks` (a full mark of `scan`) already holds — no store reads.
 * A root's walk stops at a snapshot it has already visited, so the work is the sum of what each
 * root reaches (its chains), not roots × objects; "what deleting a branch frees" is then the
 * objects whose sole owner is its root.
 */
export function soleOwners(scan: RootScan, marks: MarkSet): SoleOwners {
  const owners: SoleOwners = { snapshots: new Map(), segments: new Map(), branches: new Map() }
  const claim = <K>(map: Map<K, number>, key: K, root: number): void => {
    const o = map.get(key)
    if (o === undefined) map.set(key, root)
    else if (o !== root) map.set(key, SHARED)
  }
  const branchIds = new Map(scan.refs.map((r) => [r.ref.name, r.ref.branchId as BranchId]))
  scan.roots.forEach((root, i) => {
    if (root.kind === 'branch') {
      const id = branchIds.get(root.name)
      if (id !== undefined) claim(owners.branches, id, i)
    }
    const seen = new Set<SnapshotId>()
    for (const start of root.snapshots) {
      for (let id: SnapshotId | undefined = start.id; id !== undefined && !seen.has(id); ) {
        seen.add(id)
        const m = marks.snapshots.get(id)
        if (!m) break // in another store, or not marked (grace-only): not this store's to free
        claim(owners.snapshots, id, i)
        for (const s of m.segments) claim(owners.segments, s.id, i)
        id = m.fallback && marks.fallbackTargets.has(m.fallback.snapshot) ? m.fallback.snapshot : undefined
      }
    }
  })
  return owners
}
