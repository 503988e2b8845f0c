import { compareKeys } from './keys.js'
import type { ObjectInfo, ObjectStore } from './object-store.js'

/**
 * Keys per range when a listing of `pageSize`-key pages is split: 95% of a page, so that each range
 * is one page even after some keys were added to it since the split points were chosen (50 per
 * range on S3), and the listing costs no more LISTs than a sequential one in the common case
 * (10,001 keys in 1,000-key pages: 11 ranges of about 910, 11 LISTs).
 */
export function rangeKeys(pageSize: number): number {
  return Math.max(1, Math.floor(pageSize * 0.95))
}

/**
 * Every object under `prefix`, in ascending key order, listed as consecutive key ranges at once
 * instead of page after page: `known` (keys believed to exist, e.g. from an index; they need not,
 * and keys missing from it are still found) picks the split points, one per {@link rangeKeys} of
 * the store's `listPageSize` known keys. A store without pages (the local store) is listed
 * sequentially, as it is when `known` holds less than a page's worth of keys (or nothing).
 * Range 0 is listed from the start of the prefix up to the first split point (inclusive), range
 * `i` from `startAfter` the split point before it up to the next one, and the last range to the
 * end: together they cover the prefix exactly, whatever was written since `known` was taken. Each
 * range stops at its end key, so a range costs one page unless more than a page's worth of keys
 * landed in it. Range 0 starts at once, while `known` is still being read (an index GET), so the
 * wall time is about two round trips. The store's own concurrency limit bounds the requests in flight.
 */
export async function listInRanges(store: ObjectStore, prefix: string, known: Promise<Iterable<string>>): Promise<ObjectInfo[]> {
  const abort = new AbortController()
  const signal = abort.signal
  const first = store.list(prefix, { signal })[Symbol.asyncIterator]()
  try {
    const [head, keys] = await Promise.all([first.next(), known])
    const pageSize = store.listPageSize
    const splits = pageSize === undefined ? [] : splitPoints(keys, prefix, rangeKeys(pageSize))
    const ranges = await Promise.all([
      take(first, splits[0], head),
      ...splits.map((after, i) => take(store.list(prefix, { signal, startAfter: after })[Symbol.asyncIterator](), splits[i + 1])),
    ])
    return ranges.flat()
  } catch (e) {
    abort.abort() // One range failed: stop the others.
    await first.return?.().catch(() => {})
    throw e
  }
}

/** Split points for `perRange` known keys per range: ascending keys under `prefix`, each a range's inclusive end. */
function splitPoints(known: Iterable<string>, prefix: string, perRange: number): string[] {
  const keys = [...known].filter((k) => k.startsWith(prefix))
  // An index is written in listing order; sort only if it is not.
  if (keys.some((k, i) => i > 0 && compareKeys(keys[i - 1]!, k) >= 0)) keys.sort(compareKeys)
  const ranges = Math.ceil(keys.length / perRange)
  const out: string[] = []
  for (let i = 1; i < ranges; i++) out.push(keys[Math.floor((i * keys.length) / ranges) - 1]!)
  return out
}

/** The objects `it` yields up to and including `end` (all of them without an end), `head` first if given; then closes it. */
async function take(it: AsyncIterator<ObjectInfo>, end: string | undefined, head?: IteratorResult<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  try {
    for (let r = head ?? (await it.next()); !r.done; r = await it.next()) {
      if (end !== undefined && compareKeys(r.value.key, end) > 0) break
      out.push(r.value)
    }
  } finally {
    await it.return?.()
  }
  return out
}
