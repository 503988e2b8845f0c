import { hashAtEqual, hashPage } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import { segmentKey } from '../../format/keys.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import type { PageNo } from '../../format/page.js'
import type { FirstPagesHint, HintedRun } from '../../format/ref.js'
import type { ObjectStore } from '../../store/object-store.js'
import { LOCK_PAGE_LEVEL, locatePage, pageHashOf, type ResolvedTable } from './chain.js'

/**
 * Pages a ref's hint covers from page 1 on: the header and schema, and in a small database the
 * first roots — what a lazy open reads before the first query (its default open window).
 */
export const HINTED_PAGES = 12

/** Runs a writer puts in a hint: each is one ranged read, all made at once. */
const MAX_HINTED_RUNS = 4

/** A reader ignores a hint asking for more bytes than this (a writer never writes one). */
const MAX_HINTED_BYTES = 1024 * 1024

/**
 * The `firstPages` hint for snapshot `snapshot` with manifest `m`: where its pages 1…
 * {@link HINTED_PAGES} are stored, in at most {@link MAX_HINTED_RUNS} runs. Pages `m` owns are
 * located in its own segments; the others in `below`, its fallback's resolved table, when the
 * caller has it and the page lives in the store `home` (a hint names keys of the ref's store).
 * The hint stops at the first page it cannot locate; null if that is page 1.
 */
export function firstPagesHint(
  snapshot: SnapshotId,
  m: Pick<SnapshotManifest, 'pageSize' | 'pageCount' | 'segments' | 'pages'>,
  below: ResolvedTable | null,
  home: string,
): FirstPagesHint | null {
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
  return runs.length > 0 ? { snapshot, runs } : null
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
export function fetchHintedRuns(store: ObjectStore, hint: FirstPagesHint, signal?: AbortSignal): Promise<(Uint8Array | null)[]> {
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
export function verifyHintedPages(t: ResolvedTable, hint: FirstPagesHint, bodies: readonly (Uint8Array | null)[]): FirstPages | null {
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
