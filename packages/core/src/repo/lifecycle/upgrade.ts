import { AbortedError, BranchExistsError, NotARepositoryError, TagExistsError, isStrataError } from '../../errors/index.js'
import { decodeBranchRecord } from '../../format/branch-record.js'
import type { BranchId } from '../../format/ids.js'
import { FORMAT_KEY, REFS_PREFIX, TAGS_FOLDED_KEY, TAGS_PREFIX, branchKey, legacyRefKey, refKey, tagKey } from '../../format/keys.js'
import { decodeName } from '../../format/names.js'
import { decodeTagRecord } from '../../format/tag-record.js'
import { decodeRef, decodeRefRecord, encodeRef, originOf, type Ref } from '../../format/ref.js'
import { decodeStoreMarker, encodeStoreMarker } from '../../format/store-marker.js'
import { FORMAT_VERSION, SUPPORTED_MAJOR, formatVersionString } from '../../format/version.js'
import type { ObjectStore } from '../../store/object-store.js'
import type { OperationOptions } from '../read/progress.js'
import { readRefObjects } from '../branches/ref-index.js'

/** What `upgrade` did. */
export interface UpgradeResult {
  store: string
  /** The format the store had when this run started. */
  from: string
  /** The format it has now (the current one). */
  to: string
  /** False if the store was already at the current format (only leftovers were cleaned). */
  upgraded: boolean
  /** Refs moved from their exact-name key to their case-folded key. */
  refsMoved: number
  /** Refs rewritten in place to carry their branch's origin. */
  refsRewritten: number
  /** Tags copied from the key of their exact name (format 1.x, and 2.0 before tag keys were folded) to their case-folded key. */
  tagsMoved: number
  /** Old keys of moved refs and tags removed, including any an interrupted run left behind. */
  oldKeysRemoved: number
  /** Refs rewritten after the switch without the mark of a ref written before it (see `decodeRefRecord`). */
  refsUnmarked: number
}

/**
 * Upgrade the store to the current format in place. From 1.x: every ref is written at the key of
 * its case-folded name with a copy of its branch's origin (refs of lower-case names are rewritten
 * where they are, with compare-and-swap; others are copied to the new key), and so is every tag
 * kept at the key of its exact name; then the format marker is switched (compare-and-swap), then
 * the old keys of moved refs and tags are deleted, the refs written before the switch are
 * rewritten without the mark that kept them from proving the store's format (see
 * `decodeRefRecord`), and the store is marked as holding no tag at an old key
 * (`index/tags-folded`, so creating a tag needs no listing). A 2.0 store gets the tag steps and
 * the unmarking alone (what an interrupted run left). No page, manifest or segment changes.
 *
 * Idempotent and safe to stop at any point and run again: until the marker switches, every 1.x
 * ref and tag is still at its old key and readers of this build read it there (the copies are
 * ignored, or are the same tag); after the switch, readers use only refs at their new keys, and
 * running `upgrade` again removes any old key left behind. Stop older Strata versions writing to
 * the store first: a 1.x writer moving a ref during the upgrade could have that move lost.
 */
export async function upgradeStore(store: ObjectStore, opts: OperationOptions = {}): Promise<UpgradeResult> {
  const got = await store.get(FORMAT_KEY)
  if (!got) throw new NotARepositoryError({ store: store.url })
  const marker = decodeStoreMarker(got.body)
  const result: UpgradeResult = {
    store: store.url,
    from: formatVersionString(marker.formatVersion),
    to: formatVersionString(FORMAT_VERSION),
    upgraded: marker.formatVersion[0] < SUPPORTED_MAJOR,
    refsMoved: 0,
    refsRewritten: 0,
    tagsMoved: 0,
    oldKeysRemoved: 0,
    refsUnmarked: 0,
  }
  const check = (): void => {
    if (opts.signal?.aborted) throw new AbortedError({ operation: 'upgrade' })
  }
  const keys: string[] = []
  for await (const o of store.list(REFS_PREFIX, opts.signal ? { signal: opts.signal } : {})) keys.push(o.key)
  if (result.upgraded) {
    let done = 0
    for (const key of keys) {
      check()
      const moved = await upgradeRef(store, key)
      if (moved === 'moved') result.refsMoved++
      else if (moved === 'rewritten') result.refsRewritten++
      opts.onProgress?.({ phase: 'refs', loaded: ++done, total: keys.length })
    }
  }
  // Tags at the key of their exact name are copied first and removed only after the switch, so
  // that until then a 1.x reader still finds them.
  const oldTagKeys: string[] = []
  for await (const o of store.list(TAGS_PREFIX, opts.signal ? { signal: opts.signal } : {})) {
    check()
    if (await moveTag(store, o.key)) oldTagKeys.push(o.key)
  }
  result.tagsMoved = oldTagKeys.length
  if (result.upgraded) {
    check()
    await store.put(FORMAT_KEY, encodeStoreMarker({ storeId: marker.storeId, createdAt: marker.createdAt }), { ifMatch: got.version })
  }
  // The new keys are folded, so they hold no `@` (the escape of a capital letter): any key that
  // does is a 1.x ref whose copy at its new key is now the branch.
  const leftovers = [...keys.filter((k) => k.includes('@')), ...oldTagKeys]
  if (leftovers.length > 0) {
    check()
    await store.delete(leftovers)
    result.oldKeysRemoved = leftovers.length
  }
  // The refs written before the switch carry a mark, so that none of them passes for proof that
  // the store is 2.0 while it was not yet; now it is, each is rewritten without it.
  check()
  for (const o of await readRefObjects(store)) {
    check()
    if (await unmarkRef(store, o)) result.refsUnmarked++
  }
  check()
  await store.put(TAGS_FOLDED_KEY, new Uint8Array(0), { ifNoneMatch: '*' }).catch((e: unknown) => {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
  })
  return result
}

/**
 * Copy the tag at `key` to the key of its case-folded name if it is not there already (tags never
 * change, so a copy an earlier run made is the same tag). True if `key` is such an old key, now
 * copied; `TagExistsError` if the folded key holds a case twin, which pre-folding keys allowed and
 * which needs a person to choose.
 */
async function moveTag(store: ObjectStore, key: string): Promise<boolean> {
  if (decodeName(key.slice(TAGS_PREFIX.length)) === null) return false // not a tag key
  const got = await store.get(key)
  if (!got) return false
  const tag = decodeTagRecord(key, got.body)
  const target = tagKey(tag.name)
  if (target === key) return false
  try {
    await store.put(target, got.body, { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const there = await store.get(target)
    if (!there) return true // copied, then deleted by `deleteTag` since: the tag is gone
    const twin = decodeTagRecord(target, there.body)
    if (twin.name !== tag.name || twin.snapshot !== tag.snapshot) {
      throw new TagExistsError({ name: tag.name, existing: twin.name, snapshot: twin.snapshot })
    }
  }
  return true
}

/**
 * Rewrite the ref at `key` without the mark `upgrade` puts on refs it writes before the switch
 * (compare-and-swap; a writer that rewrote it since left the mark off). True if it had the mark.
 */
async function unmarkRef(store: ObjectStore, listed: { key: string; version: string; body: Uint8Array }): Promise<boolean> {
  let got: { version: string; body: Uint8Array } | null = listed
  for (; got !== null; got = await store.get(listed.key)) {
    const { ref, upgrading } = decodeRefRecord(listed.key, got.body)
    if (!upgrading) return false
    try {
      await store.put(listed.key, encodeRef(ref), { ifMatch: got.version })
      return true
    } catch (e) {
      if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    }
  }
  return false
}

/** Bring the 1.x ref at `key` to 2.0 (marked as written before the switch): in place, or copied to its folded key. */
async function upgradeRef(store: ObjectStore, key: string): Promise<'moved' | 'rewritten' | 'skipped'> {
  const got = await store.get(key)
  if (!got) return 'skipped'
  const old = decodeRef(key, got.body)
  const ref: Ref = { ...old, ...(old.origin ? {} : await storedOrigin(store, old)) }
  const target = refKey(old.name)
  if (target === key) {
    await store.put(key, encodeRef(ref, { upgrading: true }), { ifMatch: got.version })
    return 'rewritten'
  }
  if (key !== legacyRefKey(old.name)) return 'skipped' // not where 1.x keeps this name: not a ref
  try {
    await store.put(target, encodeRef(ref, { upgrading: true }), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    // Copied by an earlier, interrupted run — the old key is still the branch until the marker
    // switches, so copy it again — or a case twin that 1.x let through, which needs a person.
    const there = await store.get(target)
    const twin = there ? decodeRef(target, there.body) : null
    if (!there || twin?.branchId !== old.branchId) throw new BranchExistsError({ name: old.name, existing: twin?.name ?? old.name })
    await store.put(target, encodeRef(ref, { upgrading: true }), { ifMatch: there.version })
  }
  return 'moved'
}

/** The origin of a 1.x ref, from its branch record (nothing if the record is gone). */
async function storedOrigin(store: ObjectStore, ref: Ref): Promise<Pick<Ref, 'origin'>> {
  const key = branchKey(ref.branchId as BranchId)
  const got = await store.get(key)
  if (!got) return {}
  return { origin: originOf(decodeBranchRecord(key, got.body)) }
}
