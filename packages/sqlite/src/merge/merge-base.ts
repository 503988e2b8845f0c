import { isStrataError, type Repository, type SnapshotId, type SnapshotManifest } from '@strata/core'

/** The parents of a snapshot in the history graph: the previous snapshot on its branch, then any merged-in head. */
export function historyParents(m: SnapshotManifest): SnapshotId[] {
  const out: SnapshotId[] = []
  if (m.parent) out.push(m.parent)
  const merged = m.merge?.source
  if (merged && merged !== m.parent) out.push(merged)
  return out
}

/**
 * The merge base of snapshots `a` and `b`: the last snapshot both histories share. Walks both
 * histories breadth-first at once, one generation per side in turn, following each snapshot's
 * parent and, for merge commits, the merged-in head; the first snapshot reached from both sides
 * is the base. A branch's first commit has the snapshot it was created from as its parent, so
 * the walk finds the fork point of two branches, and after a merge the merged-in head. History
 * that gc has freed ends the walk on that path. Null when the histories share no snapshot.
 */
export async function findMergeBase(repo: Repository, a: SnapshotId, b: SnapshotId): Promise<SnapshotId | null> {
  if (a === b) return a
  const seen = [new Set<SnapshotId>([a]), new Set<SnapshotId>([b])]
  const frontier: SnapshotId[][] = [[a], [b]]
  for (let side = 0; frontier[0]!.length > 0 || frontier[1]!.length > 0; side ^= 1) {
    const other = seen[side ^ 1]!
    for (const id of frontier[side]!) if (other.has(id)) return id
    const next: SnapshotId[] = []
    for (const id of frontier[side]!) {
      for (const p of await parentsOf(repo, id)) {
        if (seen[side]!.has(p)) continue
        if (other.has(p)) return p
        seen[side]!.add(p)
        next.push(p)
      }
    }
    frontier[side] = next
  }
  return null
}

async function parentsOf(repo: Repository, id: SnapshotId): Promise<SnapshotId[]> {
  try {
    return historyParents(await repo.snapshot(id))
  } catch (e) {
    if (isStrataError(e, 'STRATA_MISSING_OBJECT')) return []
    throw e
  }
}
