import { BranchExistsError, BranchNotFoundError, ConflictError, isStrataError } from '../../errors/index.js'
import { REFS_PREFIX, refKey } from '../../format/keys.js'
import { decodeName, foldName } from '../../format/names.js'
import { decodeRef, encodeRef, type Ref } from '../../format/ref.js'
import type { ObjectStore } from '../../store/object-store.js'

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

/**
 * Read the ref of branch `name` to change it; `BranchNotFoundError` if there is none, or if it
 * is fenced by a rename (`movedTo` set): nothing may move a branch that is being renamed.
 */
export async function requireRef(store: ObjectStore, name: string): Promise<VersionedRef> {
  const r = await readRef(store, name)
  if (!r) throw new BranchNotFoundError({ name })
  if (r.ref.movedTo !== undefined) throw new BranchNotFoundError({ name, movedTo: r.ref.movedTo })
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

/**
 * Create the ref for `ref.name`; `BranchExistsError` if the name, or one differing from it only
 * in case, was taken meanwhile (`ignore`: a name that may share its case-folded form, the source
 * of a rename).
 *
 * The create-only put settles races for one exact name. Names that differ only in case have
 * different keys, so after the put the refs are listed again until no case twin is left: a
 * creator that sees a twin sorting before its own name removes its ref and fails at once; one
 * that sees only later-sorting twins waits for them to back off (at most {@link TWIN_WAIT_MS},
 * then it backs off itself, as the twin is then an established branch). A creator succeeds only
 * on a listing without twins, and a twin created after that listing sees it and never succeeds,
 * so two case twins never both stay; of simultaneous creators the first in sort order wins.
 */
export async function createRef(store: ObjectStore, ref: Ref, opts: { ignore?: string } = {}): Promise<string> {
  let version: string
  try {
    version = (await store.put(refKey(ref.name), encodeRef(ref), { ifNoneMatch: '*' })).version
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) throw new BranchExistsError({ name: ref.name, existing: ref.name })
    throw e
  }
  const folded = foldName(ref.name)
  const deadline = Date.now() + TWIN_WAIT_MS
  for (;;) {
    const twins = (await listRefNames(store)).filter((n) => n !== ref.name && n !== opts.ignore && foldName(n) === folded)
    if (twins.length === 0) return version
    const first = twins[0]!
    if (first < ref.name || Date.now() > deadline) {
      await store.delete([refKey(ref.name)])
      throw new BranchExistsError({ name: ref.name, existing: first })
    }
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20))
  }
}

/** How long a branch creator waits for a concurrently created case twin to back off. */
export const TWIN_WAIT_MS = 1000

/**
 * Rename branch `from` to `to` (same branch id, head and base): the linearization point is a
 * compare-and-swap that fences `from` (sets `movedTo`), so a concurrent commit or second rename
 * either lands before it — and the fence fails with `ConflictError`, renaming nothing — or finds
 * the branch fenced and fails. Then the ref `to` is created and `from` deleted. If `to` is taken
 * (`BranchExistsError`) or cannot be created, the fence is lifted again. A rename stopped after
 * the fence (a crash, a store failure) is finished by running it again; until then `from`
 * refuses changes, reads still work, and both names are taken.
 */
export async function moveRef(store: ObjectStore, from: string, to: string, updatedAt: string): Promise<Ref> {
  const current = await readRef(store, from)
  if (!current) throw new BranchNotFoundError({ name: from })
  let fence: VersionedRef
  if (current.ref.movedTo !== undefined) {
    if (current.ref.movedTo !== to) throw new BranchNotFoundError({ name: from, movedTo: current.ref.movedTo })
    fence = current
  } else {
    await assertNameFree(store, to, from)
    const fenced: Ref = { ...current.ref, movedTo: to }
    try {
      fence = { ref: fenced, version: (await store.put(refKey(from), encodeRef(fenced), { ifMatch: current.version })).version }
    } catch (e) {
      if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
      throw new ConflictError(
        { key: refKey(from), condition: 'if-match', branch: from, expected: current.version },
        `branch "${from}" was changed, renamed or deleted by someone else while it was being renamed; nothing was renamed — check the branch and retry`,
      )
    }
  }
  const { movedTo: _, ...unfenced } = fence.ref
  let moved: Ref = { ...unfenced, name: to, updatedAt }
  try {
    await createRef(store, moved, { ignore: from })
  } catch (e) {
    // `to` may be ours after all: made by an earlier run of this rename, or by this put although
    // the store reported a failure. Then finish; if `to` is not ours, give `from` back.
    let there: VersionedRef | null
    try {
      there = await readRef(store, to)
    } catch {
      throw e // Cannot tell: `from` stays fenced, and running the rename again finishes it.
    }
    if (there === null || there.ref.branchId !== moved.branchId || there.ref.movedTo !== undefined) {
      await store.put(refKey(from), encodeRef(unfenced), { ifMatch: fence.version }).catch(() => {})
      throw e
    }
    moved = there.ref
  }
  await store.delete([refKey(from)])
  return moved
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
