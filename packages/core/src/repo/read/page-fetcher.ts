import pLimit from 'p-limit'
import { AbortedError, CorruptObjectError, CorruptPageError, MissingObjectError } from '../../errors/index.js'
import { PAGE_HASH_BYTES, hashAtEqual, toHex } from '../../format/hash.js'
import { segmentKey } from '../../format/keys.js'
import type { PageNo } from '../../format/page.js'
import { LOCK_PAGE_LEVEL, type ChainLevel, type ResolvedTable } from './resolved-table.js'
import { hashRead } from './hash-pool.js'
import { runsWithin } from '../../format/run-checksums.js'

/** Receives each page with its (verified) 16-byte hash. Called at most `concurrency` times at once. */
export type PageSink = (p: PageNo, page: Uint8Array, hash: Uint8Array) => void | Promise<void>

/**
 * Receives the pages of one ranged read at once, every one verified: page `run.pages[i]` is
 * `run.body.subarray(i × pageSize, (i + 1) × pageSize)` and its 16-byte hash is at
 * `run.hashes[i × 16]`. Pages are in slot order, which for an imported or materialized snapshot
 * is page order, so a sink that writes files can write runs of consecutive pages with one call.
 * Called at most `concurrency` times at once.
 */
export type PageRunSink = (run: FetchedRun) => void | Promise<void>

/** The pages of one ranged read (see {@link PageRunSink}). */
export interface FetchedRun {
  pages: readonly PageNo[]
  body: Uint8Array
  /** The pages' hashes, 16 bytes each, concatenated. */
  hashes: Uint8Array
  /** Pages of this read verified by their run's checksum (one hash call per run) rather than one by one. */
  pagesByRun: number
  /**
   * Where each page lies in `body`, in pages, when the read kept the spare slots between wanted
   * pages (only with `FetchOptions.keepGaps`): page `pages[i]` is then at `offsets[i] × pageSize`.
   * Null when page i is at `i × pageSize`.
   */
  offsets: readonly number[] | null
  /**
   * True when `body` is this read's own buffer (one the fetcher lent the store, or a copy), not
   * one the store may share: the sink may then write into it until its promise resolves.
   */
  writable: boolean
}

/** How to fetch. */
export interface FetchOptions {
  /** Parallel range requests. */
  concurrency: number
  /** Largest single range request, in bytes (runs of adjacent slots are coalesced up to it). */
  maxRunBytes: number
  signal?: AbortSignal
  /** Called after each run with the number of pages it delivered. */
  onPages?: (n: number) => void
  /**
   * Read into buffers recycled from one read to the next (shared memory, hashed where they are)
   * instead of a fresh buffer per read: no allocation, no copy for the hashing thread, no garbage.
   * Only for a sink that is done with `run.body` when its promise resolves. Default false.
   */
  lendBuffers?: boolean
  /**
   * Hand over a read that bridged spare slots as it was read, with `run.offsets` saying where
   * each wanted page lies, instead of copying the wanted pages into a new buffer. The spare
   * slots' bytes are not pages of the database: a sink must not deliver them. Default false.
   */
  keepGaps?: boolean
}

/**
 * One ranged read: `span` slots from `firstSlot`, of which `pages` are wanted (in slot order). A
 * read may cover a few unwanted slots between wanted ones (`offsets` then says where each
 * wanted page lies; null when there are none): in a deep chain the pages higher levels replace
 * break a base segment into many short runs, and a request costs more than a few spare pages.
 */
interface Run {
  level: ChainLevel
  segment: number
  firstSlot: number
  span: number
  pages: PageNo[]
  /** Each page's entry in its level's page table. */
  entries: number[]
  /** Each page's slot minus `firstSlot`, when the read has gaps. */
  offsets: number[] | null
  /** The slot the read must end before (its size limit, brought back to a run boundary). */
  end: number
}

/**
 * A read bridges a gap of at most this many unwanted slots, and only while the unwanted slots of
 * the whole read stay fewer than its wanted ones (at most twice the bytes needed).
 */
const MAX_GAP_SLOTS = 32

/** The pages one (level, segment) serves, as parallel arrays (a large export has millions). */
interface Group {
  level: ChainLevel
  segment: number
  pages: PageNo[]
  slots: number[]
  entries: number[]
}

/**
 * Fetch pages `pages` (default: every page) of resolved table `t` and hand each to `sink`,
 * verified against its recorded hash. Adjacent slots of one segment are read with one range
 * request; requests run concurrently; memory stays within `concurrency × maxRunBytes`. The
 * lock-byte page is skipped. Throws `MissingObjectError` for a missing segment,
 * `CorruptObjectError` for a segment shorter than its index says, `CorruptPageError` for a hash
 * mismatch (no page of that read reaches `sink`).
 */
export async function fetchPages(t: ResolvedTable, sink: PageSink, opts: FetchOptions, pages?: Iterable<PageNo>): Promise<void> {
  const size = t.pageSize
  await fetchPageRuns(
    t,
    async ({ pages: ps, body, hashes }) => {
      for (let i = 0; i < ps.length; i++) {
        await sink(ps[i]!, body.subarray(i * size, (i + 1) * size), hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES))
      }
    },
    opts,
    pages,
  )
}

/**
 * Like {@link fetchPages}, but hands `sink` the pages of each ranged read at once (see
 * {@link PageRunSink}): one call per read instead of one per page.
 */
export async function fetchPageRuns(t: ResolvedTable, sink: PageRunSink, opts: FetchOptions, pages?: Iterable<PageNo>): Promise<void> {
  const size = t.pageSize
  const maxRunPages = Math.max(1, Math.floor(opts.maxRunBytes / size))
  // Group by (level, segment), then cut each group into runs of consecutive slots.
  const groups = new Map<number, Group>()
  // Neighbouring pages mostly share a group: the last one found is tried before the map.
  let lastKey = -1
  let last: Group | null = null
  const add = (p: PageNo): void => {
    const li = t.level[p - 1]!
    if (li === LOCK_PAGE_LEVEL) return
    const level = t.levels[li]!
    const e = t.entry[p - 1]!
    const segment = level.manifest.pages.segments[e]!
    const k = li * 0x1_0000_0000 + segment
    let g = k === lastKey ? last : groups.get(k)
    if (!g) {
      g = { level, segment, pages: [], slots: [], entries: [] }
      groups.set(k, g)
    }
    lastKey = k
    last = g
    g.pages.push(p)
    g.slots.push(level.manifest.pages.slots[e]!)
    g.entries.push(e)
  }
  if (pages) for (const p of pages) add(p)
  else for (let p = 1; p <= t.pageCount; p++) add(p as PageNo)

  const runs: Run[] = []
  for (const g of groups.values()) {
    const runBytes = g.level.manifest.segments[g.segment]!.runs?.runBytes
    const runPages = runBytes ? runBytes / size : 1
    // A read ends on a run boundary where it can, so that the next one starts on one and both
    // cover whole runs (each verified with one hash call).
    const endOf = (first: number): number => {
      const aligned = Math.floor((first + maxRunPages) / runPages) * runPages
      return aligned > first ? aligned : first + maxRunPages
    }
    let order: number[] | null = null
    for (let i = 1; i < g.slots.length; i++) {
      if (g.slots[i]! < g.slots[i - 1]!) {
        order = g.slots.map((_, j) => j).sort((a, b) => g.slots[a]! - g.slots[b]!)
        break
      }
    }
    let run: Run | null = null
    for (let j = 0; j < g.slots.length; j++) {
      const i = order ? order[j]! : j
      const slot = g.slots[i]!
      const gap = run ? slot - (run.firstSlot + run.span) : -1
      if (run && gap >= 0 && gap <= MAX_GAP_SLOTS && slot < run.end && run.span + gap + 1 - (run.pages.length + 1) <= run.pages.length) {
        if (gap > 0) run.offsets ??= run.pages.map((_, k) => k)
        run.offsets?.push(slot - run.firstSlot)
        run.span += gap + 1
        run.pages.push(g.pages[i]!)
        run.entries.push(g.entries[i]!)
      } else {
        run = { level: g.level, segment: g.segment, firstSlot: slot, span: 1, pages: [g.pages[i]!], entries: [g.entries[i]!], offsets: null, end: endOf(slot) }
        runs.push(run)
      }
    }
  }

  const limit = pLimit(Math.max(1, opts.concurrency))
  // At most `concurrency` reads hold a buffer at once, each at most `maxRunPages` slots long.
  const spare: Uint8Array[] = []
  const lend = (): Uint8Array | undefined => (opts.lendBuffers ? (spare.pop() ?? new Uint8Array(new SharedArrayBuffer(maxRunPages * size))) : undefined)
  let failed: unknown = null
  // Settle every run before failing: runs already under way still call `sink`, and the caller
  // must not see the failure while they do (its cleanup would race them).
  await Promise.allSettled(
    runs.map((run) =>
      limit(async () => {
        if (failed) return
        try {
          if (opts.signal?.aborted) throw new AbortedError({ operation: 'read' })
          const into = lend()
          try {
            await fetchRun(run, size, sink, opts.signal, into, opts.keepGaps ?? false)
          } finally {
            if (into) spare.push(into)
          }
          opts.onPages?.(run.pages.length)
        } catch (e) {
          failed ??= e
        }
      }),
    ),
  )
  if (failed) throw failed
}

async function fetchRun(run: Run, size: number, sink: PageRunSink, signal: AbortSignal | undefined, into: Uint8Array | undefined, keepGaps: boolean): Promise<void> {
  const { level } = run
  const seg = level.manifest.segments[run.segment]!
  const key = segmentKey(seg.id)
  const offset = run.firstSlot * size
  const length = run.span * size
  const got = await level.store.store.get(key, { range: { offset, length }, ...(signal ? { signal } : {}), ...(into ? { into } : {}) })
  if (!got) throw new MissingObjectError({ key: key, referencedBy: `snapshot ${level.id}` })
  if (got.body.byteLength < length) {
    throw new CorruptObjectError({ key: key, reason: `segment is ${got.size} bytes, shorter than its index says (${offset + length} needed by snapshot ${level.id})` })
  }
  const recorded = level.manifest.pages.hashes
  const { pages, entries, offsets } = run
  const body = got.body.subarray(0, length)
  const expected = new Uint8Array(pages.length * PAGE_HASH_BYTES)
  const e0 = entries[0]!
  let inOrder = true
  for (let i = 1; i < entries.length && inOrder; i++) inOrder = entries[i] === e0 + i
  if (inOrder) {
    // Consecutive entries (the usual case: a read of a segment in page order): one copy.
    expected.set(recorded.subarray(e0 * PAGE_HASH_BYTES, (e0 + entries.length) * PAGE_HASH_BYTES))
  } else {
    for (let i = 0; i < pages.length; i++) expected.set(recorded.subarray(entries[i]! * PAGE_HASH_BYTES, (entries[i]! + 1) * PAGE_HASH_BYTES), i * PAGE_HASH_BYTES)
  }
  // The segment's whole runs inside this read, checked one hash call each, on the bytes as read
  // (spare slots included: a run's checksum covers them).
  const whole = runsWithin(seg.runs, seg.length, offset, length)
  const runHashes = new Uint8Array(whole.length * PAGE_HASH_BYTES)
  whole.forEach((w, i) => runHashes.set(seg.runs!.hashes.subarray(w.index * PAGE_HASH_BYTES, (w.index + 1) * PAGE_HASH_BYTES), i * PAGE_HASH_BYTES))
  const verified = await hashRead(body, {
    pageSize: size,
    pages,
    offsets: offsets ? offsets.map((o) => o * size) : null,
    expected,
    runs: whole.flatMap((w) => [w.start, w.length]),
    runHashes,
  })
  const { hashes } = verified
  for (let i = 0; i < pages.length; i++) {
    if (!hashAtEqual(hashes, i * PAGE_HASH_BYTES, expected, i * PAGE_HASH_BYTES)) {
      throw new CorruptPageError({
        snapshot: level.id,
        pageNo: pages[i]!,
        key: key,
        expected: toHex(expected.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES)),
        actual: toHex(hashes.subarray(i * PAGE_HASH_BYTES, (i + 1) * PAGE_HASH_BYTES)),
      })
    }
  }
  let wanted = body
  let writable = into !== undefined && body.buffer === into.buffer
  if (offsets && !keepGaps) {
    writable = true
    // Drop the spare slots (into a new buffer: the store's may be shared).
    wanted = new Uint8Array(pages.length * size)
    for (let i = 0; i < offsets.length; i++) wanted.set(body.subarray(offsets[i]! * size, (offsets[i]! + 1) * size), i * size)
  }
  await sink({ pages, body: wanted, hashes, pagesByRun: verified.pagesByRun, offsets: keepGaps ? offsets : null, writable })
}
