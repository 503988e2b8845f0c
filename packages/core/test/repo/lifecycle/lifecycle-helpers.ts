import { FORMAT_KEY, SWEEPS_ENDED_PREFIX, branchKey, decodeManifest, refKey, segmentKey, snapshotKey } from '../../../src/engine.js'
import { type BranchId, type ObjectStore, type SnapshotId } from '../../../src/index.js'
import { InterceptingStore, type StoreCall } from '../../../src/testing/index.js'

/** Retention that keeps heads only, and no grace: what tests use to see garbage go at once. */
export const EAGER = { graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } } as const

/** Every key in the store, sorted. */
export async function keysOf(store: ObjectStore, prefix = ''): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(prefix)) keys.push(o.key)
  return keys.sort()
}

/** Total bytes of every object in the store. */
export async function bytesOf(store: ObjectStore, prefix = ''): Promise<number> {
  let n = 0
  for await (const o of store.list(prefix)) n += o.size
  return n
}

/**
 * The keys a set of branches needs when only their heads are kept, computed from the store's
 * raw bytes (no cache): the format marker, each ref (format 2.0 writes no branch records), every snapshot down each
 * head's fallback chain, and every segment those snapshots reference; and the records of recent
 * gc sweeps (kept ten minutes, so that a branch create sees them).
 */
export async function keysNeededBy(store: ObjectStore, refs: { name: string; branchId: string; head: SnapshotId }[]): Promise<string[]> {
  const keys = new Set<string>([FORMAT_KEY, ...(await keysOf(store, SWEEPS_ENDED_PREFIX))])
  for (const r of refs) {
    keys.add(refKey(r.name))
    let id: SnapshotId | null = r.head
    while (id) {
      const got = await store.get(snapshotKey(id))
      if (!got) throw new Error(`snapshot ${id} is missing`)
      const m = decodeManifest(id, got.body)
      keys.add(snapshotKey(id))
      for (const s of m.segments) keys.add(segmentKey(s.id))
      id = m.fallback?.snapshot ?? null
    }
  }
  return [...keys].sort()
}

/**
 * A store wrapper that runs a callback once at a chosen moment of gc: right after the first full
 * listing of the store, or right before the first delete. Everything else is forwarded.
 */
export class HookStore extends InterceptingStore {
  afterFullList: (() => Promise<void>) | null = null
  beforeDelete: (() => Promise<void>) | null = null

  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    if (call.operation === 'delete' && this.beforeDelete) {
      const hook = this.beforeDelete
      this.beforeDelete = null
      await hook()
    }
    const result = await forward()
    if (call.operation === 'list' && call.key === '' && this.afterFullList) {
      const hook = this.afterFullList
      this.afterFullList = null
      await hook()
    }
    return result
  }
}
