import type { SnapshotId } from '../../format/ids.js'
import { LOCK_PAGE_LEVEL } from '../read/chain.js'
import type { Target } from '../read/chain.js'
import { type RepoContext } from '../read/context.js'
import { resolveTarget } from '../branches/resolve-target.js'

/** A run of consecutive pages served by one level of a chain. */
export interface PageRange {
  /** First page of the run. */
  from: number
  /** Last page of the run (inclusive). */
  to: number
  /** The snapshot serving it, or null for the lock-byte page (never stored). */
  snapshot: SnapshotId | null
  /** Its position in the chain: 0 is the snapshot itself. */
  depth: number
  /** The URL of the store holding it. */
  store: string
}

/**
 * Which snapshot (and store) serves each page of a branch or snapshot, as runs of consecutive
 * pages — the way to see a chain. Reads manifests only.
 */
export async function pageMap(ctx: RepoContext, spec: string): Promise<{ target: Target; pageCount: number; ranges: PageRange[] }> {
  const target = await resolveTarget(ctx, spec)
  const t = await ctx.chains.resolve(target.snapshot, { branch: target.branch })
  const ranges: PageRange[] = []
  for (let p = 1; p <= t.pageCount; p++) {
    const li = t.level[p - 1]!
    const last = ranges[ranges.length - 1]
    const depth = li === LOCK_PAGE_LEVEL ? -1 : li
    if (last && last.depth === depth && last.to === p - 1) {
      last.to = p
      continue
    }
    const level = li === LOCK_PAGE_LEVEL ? null : t.levels[li]!
    ranges.push({ from: p, to: p, snapshot: level?.id ?? null, depth, store: (level ?? t.levels[0]!).store.store.url })
  }
  return { target, pageCount: t.pageCount, ranges }
}
