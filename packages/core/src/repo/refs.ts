import { BranchExistsError, BranchNotFoundError, ConflictError, isStrataError } from '../errors/index.js'
import { REFS_PREFIX, refKey } from '../format/keys.js'
import { decodeName, foldName } from '../format/names.js'
import { decodeRef, encodeRef, type Ref } from '../format/ref.js'
import type { ObjectStore } from '../store/object-store.js'

/** A ref and the store version it was read at (for compare-and-swap). */
export interface VersionedRef {
  ref: Ref
  version: string
}

/** Read the ref of branch `name`, or null if there is none. */
export async function readRef(store: ObjectStore, name: string): Promise<VersionedRef | null> {
  const key = refKey(name)
  const got = await store.get(key)
  return got ? { ref: decodeRef(key, got.body), version: got.version } : null
}

/** Read the ref of branch `name`; `BranchNotFoundError` if there is none. */
export async function requireRef(store: ObjectStore, name: string): Promise<VersionedRef> {
  const r = await readRef(store, name)
  if (!r) throw new BranchNotFoundError({ name })
  return r
}

/** Every branch name in the store (one prefix scan), sorted. Undecodable keys are skipped. */
export async function listRefNames(store: ObjectStore): Promise<string[]> {
  const names: string[] = []
  for await (const o of store.list(REFS_PREFIX)) {
    const name = decodeName(o.key.slice(REFS_PREFIX.length))
    if (name !== null) names.push(name)
  }
  return names.sort()
}

/** Throw `BranchExistsError` if a branch named `name`, or differing only in case, exists. */
export async function assertNameFree(store: ObjectStore, name: string, ignore?: string): Promise<void> {
  const folded = foldName(name)
  for (const existing of await listRefNames(store)) {
    if (existing !== ignore && foldName(existing) === folded) throw new BranchExistsError({ name, existing })
  }
}

/** Create the ref for `ref.name`; `BranchExistsError` if the name was taken meanwhile. */
export async function createRef(store: ObjectStore, ref: Ref): Promise<string> {
  try {
    return (await store.put(refKey(ref.name), encodeRef(ref), { ifNoneMatch: '*' })).version
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) throw new BranchExistsError({ name: ref.name, existing: ref.name })
    throw e
  }
}

/**
 * Replace the ref of `ref.name` if it is still at `version`. A lost race throws
 * `ConflictError` naming the branch: someone else moved it since it was read.
 */
export async function updateRef(store: ObjectStore, ref: Ref, version: string): Promise<string> {
  try {
    return (await store.put(refKey(ref.name), encodeRef(ref), { ifMatch: version })).version
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) {
      throw new ConflictError(
        { key: refKey(ref.name), condition: 'if-match', branch: ref.name, expected: version },
        `branch "${ref.name}" was moved by someone else while this operation ran; nothing of this operation is visible — re-read the branch and retry`,
      )
    }
    throw e
  }
}
