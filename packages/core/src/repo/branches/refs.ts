import { BranchExistsError, BranchNotFoundError, ConflictError, isStrataError } from '../../errors/index.js'
import { legacyRefKey, refKey } from '../../format/keys.js'
import { decodeRef, decodeRefRecord, encodeRef, type Ref } from '../../format/ref.js'
import type { ObjectStore } from '../../store/object-store.js'
import { LegacyFormatStore } from '../read/legacy-store.js'
import { readRefObjects } from './ref-index.js'

/** A ref and the store version it was read at (for compare-and-swap). */
export interface VersionedRef {
  ref: Ref
  version: string
  /** As read from the store: whether its record proves the store is of the current format (see `decodeRefRecord`). */
  provesFormat?: boolean
}

/**
 * gc, clearing a tombstone, removes the one it rewrote only if it can still do so within this
 * many ms (monotonic) of starting to write it; later it leaves it for the next branch of the name
 * or the next gc.
 */
export const TOMBSTONE_REMOVE_WINDOW_MS = 10_000

/**
 * An unsettled tombstone this old (ms, repository clock) may be replaced — by a new branch of its
 * name, or by gc. Younger unsettled tombstones belong to their writer: no one else writes over or
 * removes them, so the writer's unconditional removal can never hit a newer ref. (A settled one,
 * which its deleter leaves in place, may be replaced at once.)
 */
export const TOMBSTONE_HOLD_MS = 60_000

/** True if the tombstone `t` may be replaced by someone other than its writer at `nowMs` (repository clock). */
function isReplaceable(t: Ref, nowMs: number): boolean {
  return t.settled === true || nowMs - Date.parse(t.deletedAt!) >= TOMBSTONE_HOLD_MS
}

/** True if `ref` is a tombstone (a deletion in progress or interrupted), not a branch. */
export function isTombstone(ref: Ref): boolean {
  return ref.deletedAt !== undefined
}

/**
 * Read the ref of branch `name`, or null if there is none. One GET of the key of its case-folded
 * name; a ref there under another spelling (`Foo` when asked for `foo`), or a tombstone, is not
 * this branch. In a store of format 1.x (opened read-only) the ref may still be at its exact-name key.
 */
export async function readRef(store: ObjectStore, name: string): Promise<VersionedRef | null> {
  const key = refKey(name)
  const got = await readRefAt(store, key)
  if (got && isTombstone(got.ref)) return null
  if (got?.ref.name === name) return got
  const legacy = legacyRefKey(name)
  if (store instanceof LegacyFormatStore && legacy !== key) {
    const old = await readRefAt(store, legacy)
    if (old?.ref.name === name) return old
  }
  return null
}

/** The ref stored at `key` (any name), or null. */
async function readRefAt(store: ObjectStore, key: string): Promise<VersionedRef | null> {
  const got = await store.get(key)
  if (!got) return null
  const { ref, provesFormat } = decodeRefRecord(key, got.body)
  return { ref, version: got.version, provesFormat }
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

/**
 * Every ref in the store, sorted by name: one prefix scan (a LIST per 1,000 refs on S3), then the
 * bytes of each ref from the ref index where it is current and one GET per ref otherwise (see
 * `readRefObjects`). A ref at a key that is not its own (left by an interrupted `upgrade`) is
 * skipped; so are tombstones and refs deleted between the scan and their read.
 */
export async function listRefs(store: ObjectStore): Promise<VersionedRef[]> {
  const refs: VersionedRef[] = []
  for (const { key, version, body } of await readRefObjects(store)) {
    const ref = decodeRef(key, body)
    if (!isTombstone(ref) && isOwnRefKey(store, key, ref.name)) refs.push({ ref, version })
  }
  return refs.sort((a, b) => (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0))
}

/** True if `key` is where this store's format keeps the ref of branch `name`. */
export function isOwnRefKey(store: ObjectStore, key: string, name: string): boolean {
  return key === (store instanceof LegacyFormatStore ? legacyRefKey : refKey)(name)
}

/**
 * Throw `BranchExistsError` if a branch named `name`, or differing only in case, exists (one GET:
 * they share a key). `ignore`: a name that may hold it (the source of a rename).
 */
export async function assertNameFree(store: ObjectStore, name: string, ignore?: string): Promise<void> {
  const there = await readRefAt(store, refKey(name))
  if (there && !isTombstone(there.ref) && there.ref.name !== ignore) throw new BranchExistsError({ name, existing: there.ref.name })
}

/** Attempts a create makes while a young tombstone holds the name (its deleter removes it at once). */
const TOMBSTONE_RETRIES = 6

/**
 * Create the ref for `ref.name` with one create-only put; `BranchExistsError` if the name, or
 * one differing from it only in case, is taken. Case twins share the key, so of simultaneous
 * creators of `Foo`, `foo` and `FOO` exactly one put succeeds — no listing, no waiting.
 *
 * A tombstone at the key (the name's branch was deleted) does not take the name: a settled one
 * (what a deletion leaves) or one older than {@link TOMBSTONE_HOLD_MS} (compared with
 * `ref.updatedAt`) is replaced by compare-and-swap; a younger unsettled one (gc clearing it) is
 * waited out briefly, as its writer removes it at once, and if it stays (its writer stopped) the
 * create fails with `ConflictError` until it is old enough.
 */
export async function createRef(store: ObjectStore, ref: Ref): Promise<string> {
  const key = refKey(ref.name)
  for (let attempt = 0; ; attempt++) {
    try {
      return (await store.put(key, encodeRef(ref), { ifNoneMatch: '*' })).version
    } catch (e) {
      if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    }
    const there = await readRefAt(store, key).catch(() => null)
    if (there !== null && !isTombstone(there.ref)) throw new BranchExistsError({ name: ref.name, existing: there.ref.name })
    if (there !== null && isReplaceable(there.ref, Date.parse(ref.updatedAt))) {
      try {
        return (await store.put(key, encodeRef(ref), { ifMatch: there.version })).version
      } catch (e) {
        if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
        continue // Someone else replaced it first: look again.
      }
    }
    if (attempt >= TOMBSTONE_RETRIES) {
      throw new ConflictError(
        { key, condition: 'if-none-match', branch: ref.name },
        `branch name "${ref.name}" is still being deleted${there ? ` (since ${there.ref.deletedAt})` : ''}; retry in a moment (an interrupted deletion frees the name ${TOMBSTONE_HOLD_MS / 1000}s after it began)`,
      )
    }
    await new Promise((r) => setTimeout(r, 10 << attempt))
  }
}

/**
 * Remove the ref `current` (as read, at its version): the linearization point is a
 * compare-and-swap that replaces it with a settled tombstone (`deletedAt`), so a commit, rename or
 * other change that landed since it was read makes this fail with `ConflictError` and removes
 * nothing — and one that comes after finds no branch. The tombstone stays: it is no branch, and
 * the next branch of the name replaces it by compare-and-swap, or gc clears it. One write, where
 * deleting the key as well would cost a second request and, since a store has no conditional
 * delete, a window in which nobody else may write the key.
 */
export async function removeRef(store: ObjectStore, current: VersionedRef, deletedAt: string, what = 'deleted'): Promise<void> {
  await writeTombstone(store, current, { ...current.ref, deletedAt, settled: true }, what)
}

/** Replace `current` by `tombstone` (compare-and-swap); `ConflictError` naming `what` if it changed. */
async function writeTombstone(store: ObjectStore, current: VersionedRef, tombstone: Ref, what: string): Promise<void> {
  const key = refKey(current.ref.name)
  try {
    await store.put(key, encodeRef(tombstone), { ifMatch: current.version })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    throw new ConflictError(
      { key, condition: 'if-match', branch: current.ref.name, expected: current.version },
      `branch "${current.ref.name}" was changed, renamed or deleted by someone else while it was being ${what}; nothing was ${what} — check the branch and retry`,
    )
  }
}

/**
 * Clear the tombstone `t` if someone other than its writer may (settled, or older than
 * {@link TOMBSTONE_HOLD_MS}): {@link removeRefAndKey} — young again, and this caller's, so nobody
 * else writes the key until it is deleted. False if it may not be cleared yet or someone else
 * replaced it first.
 */
export async function clearTombstone(store: ObjectStore, t: VersionedRef, nowIsoTime: string): Promise<boolean> {
  if (!isTombstone(t.ref) || !isReplaceable(t.ref, Date.parse(nowIsoTime))) return false
  const { settled: _, deletedAt: __, ...ref } = t.ref
  try {
    await removeRefAndKey(store, { ref, version: t.version }, nowIsoTime, 'cleared')
  } catch (e) {
    if (isStrataError(e, 'STRATA_CONFLICT')) return false
    throw e
  }
  return true
}

/**
 * Remove `current` as {@link removeRef} does, but with an unsettled tombstone that this caller then
 * deletes — blindly, as a store has no conditional delete, so only within
 * {@link TOMBSTONE_REMOVE_WINDOW_MS} of writing it (a process paused longer leaves it, and the
 * next branch of the name or gc replaces it once it is {@link TOMBSTONE_HOLD_MS} old). For gc,
 * which would otherwise leave its own tombstones for its next run.
 */
export async function removeRefAndKey(store: ObjectStore, current: VersionedRef, deletedAt: string, what: string): Promise<void> {
  const started = performance.now()
  await writeTombstone(store, current, { ...current.ref, deletedAt }, what)
  if (performance.now() - started < TOMBSTONE_REMOVE_WINDOW_MS) await store.delete([refKey(current.ref.name)]).catch(() => {})
}

/**
 * Rename branch `from` to `to` (same branch id, head and base).
 *
 * To a name of another case-folded form, the linearization point is a compare-and-swap that
 * fences `from` (sets `movedTo`), so a concurrent commit or second rename either lands before it
 * — and the fence fails with `ConflictError`, renaming nothing — or finds the branch fenced and
 * fails. Then the ref `to` is created (create-only) and `from` deleted. If `to` is taken
 * (`BranchExistsError`) or cannot be created, the fence is lifted again. A rename stopped after
 * the fence (a crash, a store failure) is finished by running it again; until then `from`
 * refuses changes, reads still work, and both names are taken.
 *
 * A rename that changes only letter case (`foo` → `Foo`) keeps the key: it is one
 * compare-and-swap of the ref, with the same guarantees and no intermediate state.
 */
export async function moveRef(store: ObjectStore, from: string, to: string, updatedAt: string): Promise<Ref> {
  if (from === to) throw new BranchExistsError({ name: to, existing: from })
  const current = await readRef(store, from)
  if (!current) throw new BranchNotFoundError({ name: from })
  const sameKey = refKey(from) === refKey(to)
  if (current.ref.movedTo !== undefined && current.ref.movedTo !== to) throw new BranchNotFoundError({ name: from, movedTo: current.ref.movedTo })
  const lostRace = (e: unknown, version: string): never => {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    throw new ConflictError(
      { key: refKey(from), condition: 'if-match', branch: from, expected: version },
      `branch "${from}" was changed, renamed or deleted by someone else while it was being renamed; nothing was renamed — check the branch and retry`,
    )
  }
  if (sameKey) {
    const { movedTo: _, ...unfenced } = current.ref
    const moved: Ref = { ...unfenced, name: to, updatedAt }
    await store.put(refKey(to), encodeRef(moved), { ifMatch: current.version }).catch((e: unknown) => lostRace(e, current.version))
    return moved
  }
  let fence: VersionedRef
  if (current.ref.movedTo !== undefined) {
    fence = current
  } else {
    await assertNameFree(store, to)
    const fenced: Ref = { ...current.ref, movedTo: to }
    const put = await store.put(refKey(from), encodeRef(fenced), { ifMatch: current.version }).catch((e: unknown) => lostRace(e, current.version))
    fence = { ref: fenced, version: put.version }
  }
  const { movedTo: _, ...unfenced } = fence.ref
  let moved: Ref = { ...unfenced, name: to, updatedAt }
  try {
    await createRef(store, moved)
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
  // The fence becomes a tombstone by compare-and-swap, never a blind delete: a rename that ran
  // again and finished first, and a new branch `from` created since, are left alone.
  await removeRef(store, fence, updatedAt, 'renamed').catch((e: unknown) => {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
  })
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
