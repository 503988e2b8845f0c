import pLimit from 'p-limit'
import { REFS_PREFIX, REF_INDEX_KEY } from '../../format/keys.js'
import { decodeRefIndex, encodeRefIndex, type RefIndexEntry } from '../../format/ref-index.js'
import { listInRanges } from '../../store/list-ranges.js'
import type { ObjectStore } from '../../store/object-store.js'
import { LegacyFormatStore } from '../read/legacy-store.js'

/**
 * Small-object reads (refs, records, manifests) in flight at once in whole-store passes: enough
 * to hide a remote store's round trip (64 reads of 20 ms each are 3,200 reads a second), small
 * enough to stay bounded. Bulk page transfers use the repository's `concurrency` instead.
 */
export const METADATA_READS = 64

/** The index is rewritten once more refs than this (or than 1/64 of all) were read past it. */
const STALE_ENTRIES = 32

/** An object's key and version as a listing returned them. */
export interface ListedObject {
  key: string
  version: string
}

/**
 * A listing the caller already took (gc's listing of the whole key space), to read objects from
 * instead of listing their prefix again, with the ref index read alongside it ({@link readRefIndex}).
 * What is read is then as of that listing, plus whatever changed until each object's own read.
 */
export interface PriorListing {
  /** Every object under the prefixes to be read, in key order. */
  objects: readonly ListedObject[]
  index: Promise<Map<string, RefIndexEntry>>
}

/**
 * Every object under `refs/` with its bytes and version, in key order: the listing (one LIST per
 * 950 to 1,000 refs on S3, the LISTs at once where the index names the refs: see {@link listRefs})
 * is the truth about which refs exist and at which version; their bytes come from the ref index
 * (`index/refs`, one GET) where its entry has that very version, and from one GET per ref
 * otherwise (at most {@link METADATA_READS} at a time). The versions are content
 * hashes on S3 and inode, size and a randomised modification time on the local store, so an entry
 * that matches is the bytes a GET would return. When more than a few refs missed the index, it is
 * rewritten (last writer wins; each writer's entries are valid on their own). A missing,
 * unreadable or unwritable index only costs the GETs: it is a cache, never needed for correctness.
 * A ref deleted between the listing and its read is left out. With `prior`, the refs are the ones
 * in that earlier listing and the index is the one read alongside it: no listing of its own.
 */
export async function readRefObjects(store: ObjectStore, prior?: PriorListing): Promise<RefIndexEntry[]> {
  const [listed, index] = prior ? [prior.objects.filter((o) => o.key.startsWith(REFS_PREFIX)), await prior.index] : await listRefs(store)
  const limit = pLimit(METADATA_READS)
  let hits = 0
  let missed = 0
  const read = await Promise.all(
    listed.map(({ key, version }) => {
      const hit = index.get(key)
      if (hit && hit.version === version) {
        hits++
        return hit
      }
      missed++
      return limit(async () => {
        const got = await store.get(key)
        return got ? { key, version: got.version, body: got.body } : null
      })
    }),
  )
  const out = read.filter((e): e is RefIndexEntry => e !== null)
  // Entries of refs that changed or went away are stale, as are refs the index lacks.
  const stale = missed + (index.size - hits)
  if (stale > Math.max(STALE_ENTRIES, out.length / 64)) await writeIndex(store, out)
  return out
}

/**
 * Every object under `prefix` with its bytes and version, in key order, each read with one GET
 * (at most {@link METADATA_READS} at a time); one deleted between the listing and its read is left out.
 * With `prior`, the objects are those under `prefix` in that earlier listing.
 */
export async function readObjects(store: ObjectStore, prefix: string, prior?: readonly ListedObject[]): Promise<RefIndexEntry[]> {
  const limit = pLimit(METADATA_READS)
  const listed = prior ? prior.filter((o) => o.key.startsWith(prefix)) : await listVersions(store, prefix)
  const out = await Promise.all(
    listed.map(({ key }) =>
      limit(async () => {
        const got = await store.get(key)
        return got ? { key, version: got.version, body: got.body } : null
      }),
    ),
  )
  return out.filter((e): e is RefIndexEntry => e !== null)
}

/**
 * The listing of `refs/` and the ref index, read together: the index's keys split the listing into
 * ranges of 95% of a store's list page, listed at once ({@link listInRanges}); the first range starts while the
 * index is being read. Refs written since the index are found all the same; without an index the
 * listing is one LIST after another.
 */
async function listRefs(store: ObjectStore): Promise<[ListedObject[], Map<string, RefIndexEntry>]> {
  const index = readRefIndex(store)
  const listed = await listInRanges(store, REFS_PREFIX, index.then((m) => m.keys()))
  return [listed, await index]
}

async function listVersions(store: ObjectStore, prefix: string): Promise<ListedObject[]> {
  const out: ListedObject[] = []
  for await (const o of store.list(prefix)) out.push({ key: o.key, version: o.version })
  return out
}

/** The entries of the ref index (`index/refs`), empty if it is missing or unreadable: never throws. */
export async function readRefIndex(store: ObjectStore): Promise<Map<string, RefIndexEntry>> {
  try {
    const got = await store.get(REF_INDEX_KEY)
    return got ? decodeRefIndex(REF_INDEX_KEY, got.body) : new Map()
  } catch {
    return new Map() // Damaged or unreadable: read every ref, and replace it.
  }
}

async function writeIndex(store: ObjectStore, entries: readonly RefIndexEntry[]): Promise<void> {
  // A store opened read-only for an older format is not written; `upgrade` comes first.
  if (store instanceof LegacyFormatStore) return
  await store.put(REF_INDEX_KEY, encodeRefIndex(entries)).catch(() => {})
}
