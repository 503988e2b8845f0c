import { hashAtEqual, hashPage } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import { segmentKey } from '../../format/keys.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import type { PageNo } from '../../format/page.js'
import { MAX_HINTED_FALLBACKS, type HintedRun, type ReadHint } from '../../format/ref.js'
import type { ObjectStore } from '../../store/object-store.js'
import { LOCK_PAGE_LEVEL, locatePage, pageHashOf, type ResolvedTable } from './chain.js'

/**
 * Pages a ref's read hint covers from page 1 on: the header and schema, and in a small database the
 * first roots — what a lazy open reads before the first query (its default open window).
 */
export const HINTED_PAGES = 12

/** Runs a writer puts in a hint: each is one ranged read, all made at once. */
const MAX_HINTED_RUNS = 4

/** A reader ignores a hint asking for more bytes than this (a writer never writes one). */
const MAX_HINTED_BYTES = 1024 * 1024

/**
 * The read hint of snapshot `snapshot` with manifest `m`, to go into the ref that makes it a head.
 * `fallbacks`: the snapshots of its chain in the store `home`, from its fallback down (to the first
 * one in another store) — all of them when the caller passes `below`, the fallback's resolved
 * table, else only the fallback. `runs`: where its pages 1…{@link HINTED_PAGES} are stored, in at
 * most {@link MAX_HINTED_RUNS} runs: pages `m` owns in its own segments, the others where `below`
 * says, if they live in `home` (a hint names keys of the ref's store); the runs stop at the first
 * page they cannot locate. Null if there is nothing to hint.
 */
export function readHintFor(
  snapshot: SnapshotId,
  m: Pick<SnapshotManifest, 'pageSize' | 'pageCount' | 'segments' | 'pages' | 'fallback'>,
  below: ResolvedTable | null,
  home: string,
): ReadHint | null {
  const fb = m.fallback && (!m.fallback.store || m.fallback.store.id === home) ? m.fallback.snapshot : null
  if (below && below.snapshot !== fb) below = null
  const fallbacks: SnapshotId[] = []
  if (below) {
    for (const l of below.levels) {
      if (l.store.id !== home || fallbacks.length === MAX_HINTED_FALLBACKS) break
      fallbacks.push(l.id)
    }
  } else if (fb) fallbacks.push(fb)
  const runs: HintedRun[] = []
  const { pageNos } = m.pages
  let e = 0
  for (let p = 1; p <= Math.min(HINTED_PAGES, m.pageCount); p++) {
    while (e < pageNos.length && pageNos[e]! < p) e++
    let where: { segment: HintedRun['segment']; slot: number }
    if (e < pageNos.length && pageNos[e] === p) {
      where = { segment: m.segments[m.pages.segments[e]!]!.id, slot: m.pages.slots[e]! }
    } else {
      if (!below || p > below.pageCount || below.level[p - 1] === LOCK_PAGE_LEVEL) break
      const loc = locatePage(below, p as PageNo)!
      if (loc.level.store.id !== home) break
      where = { segment: loc.level.manifest.segments[loc.segment]!.id, slot: loc.slot }
    }
    const offset = where.slot * m.pageSize
    const last = runs[runs.length - 1]
    if (last && last.segment === where.segment && last.offset + last.length === offset) last.length += m.pageSize
    else if (runs.length < MAX_HINTED_RUNS) runs.push({ segment: where.segment, offset, length: m.pageSize, first: p as PageNo })
    else break
  }
  return runs.length > 0 || fallbacks.length > 0 ? { snapshot, fallbacks, runs } : null
}

/** First pages of a snapshot fetched on a hint and verified: page `pages[i]` is `body[i × pageSize …]`. */
export interface FirstPages {
  /** Ascending page numbers. */
  pages: PageNo[]
  body: Uint8Array
  /** Bytes read from the store for them, and the ranged reads that did it (verified or not). */
  storeBytes: number
  requests: number
}

/**
 * Fetch the runs of `hint`, all at once. Each answer is the run's bytes, or null for a run that
 * could not be read (a deleted segment, a store error, `signal` aborted): a hint is never worth
 * an error.
 */
export function fetchHintedRuns(store: ObjectStore, hint: ReadHint, signal?: AbortSignal): Promise<(Uint8Array | null)[]> {
  let total = 0
  for (const r of hint.runs) total += r.length
  if (total > MAX_HINTED_BYTES) return Promise.resolve([])
  return Promise.all(
    hint.runs.map((r) =>
      store.get(segmentKey(r.segment), { range: { offset: r.offset, length: r.length }, ...(signal ? { signal } : {}) }).then(
        (got) => (got && got.body.byteLength >= r.length ? got.body.subarray(0, r.length) : null),
        () => null,
      ),
    ),
  )
}

/**
 * The pages of `bodies` (the answers of {@link fetchHintedRuns} for `hint`) that are what table
 * `t` says they are: each page's bytes must hash to its hash in `t`, wherever the hint said they
 * were stored. Anything else — a hint for another snapshot, a run of the wrong length, bytes of
 * another page — is left out, and the reader fetches those pages as it would without a hint.
 * Null if no page passes.
 */
export function verifyHintedPages(t: ResolvedTable, hint: ReadHint, bodies: readonly (Uint8Array | null)[]): FirstPages | null {
  if (hint.snapshot !== t.snapshot) return null
  const size = t.pageSize
  const found = new Map<number, Uint8Array>()
  let storeBytes = 0
  hint.runs.forEach((run, i) => {
    const body = bodies[i]
    if (!body) return
    storeBytes += body.byteLength
    if (run.offset % size !== 0 || run.length % size !== 0) return
    for (let k = 0; k < run.length / size; k++) {
      const p = run.first + k
      if (p > t.pageCount) break
      const want = pageHashOf(t, p as PageNo)
      const page = body.subarray(k * size, (k + 1) * size)
      if (want && !found.has(p) && hashAtEqual(hashPage(page), 0, want, 0)) found.set(p, page)
    }
  })
  if (found.size === 0) return null
  const pages = [...found.keys()].sort((a, b) => a - b) as PageNo[]
  const out = new Uint8Array(pages.length * size)
  pages.forEach((p, i) => out.set(found.get(p)!, i * size))
  return { pages, body: out, storeBytes, requests: bodies.length }
}
