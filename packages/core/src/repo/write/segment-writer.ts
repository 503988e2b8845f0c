import { createHash } from 'node:crypto'
import pLimit from 'p-limit'
import type { SegmentId } from '../../format/ids.js'
import { segmentKey } from '../../format/keys.js'
import type { SegmentRef } from '../../format/manifest.js'
import type { PageNo, PageSize } from '../../format/page.js'
import type { PageEntry } from '../../format/page-table.js'
import { runChecksumsOf } from '../read/hash-pool.js'
import type { ObjectStore } from '../../store/object-store.js'
import { DEFAULT_SEGMENT_BYTES, type RepoContext } from '../read/context.js'
import type { ResolvedTable } from '../read/chain.js'
import { fetchPages } from '../read/page-fetcher.js'
import type { OperationOptions } from '../read/progress.js'


/**
 * The id of a segment: SHA-256 over its page size (u32 BE) and its pages' 16-byte hashes, in
 * slot order. Pages are hashed anyway, so naming the segment costs no second pass over its bytes,
 * and identical runs of pages dedupe to one object.
 */
export function segmentId(size: PageSize, hashes: readonly Uint8Array[]): SegmentId {
  const h = createHash('sha256')
  const ps = Buffer.allocUnsafe(4)
  ps.writeUInt32BE(size)
  h.update(ps)
  for (const x of hashes) h.update(x)
  return h.digest('hex') as SegmentId
}

/**
 * Packs pages into segments of about `segmentBytes` and uploads them create-only, with up to
 * `concurrency` uploads in flight (adding a page waits when the pipeline is full, so memory stays
 * bounded). Content addressing makes uploads idempotent: a segment's id fixes its bytes, so one
 * the store already holds is the same bytes, and a create-only put of it succeeds (the
 * `ObjectStore` contract).
 *
 * With `skipStored`, each segment is first looked up (`head`): one the store holds with the same
 * length is not uploaded again, and counts in `segmentsAlreadyStored`. That costs one small
 * request per segment and saves the whole upload when the segment exists: worth it where the
 * pages are likely stored already (importing a database again), not for a commit's new pages.
 */
export class SegmentWriter {
  readonly segments: SegmentRef[] = []
  readonly entries: PageEntry[] = []
  /** Bytes uploaded (segments found already stored with `skipStored` are not counted). */
  bytesWritten = 0
  /** Segments not uploaded because the store held them already (only with `skipStored`). */
  segmentsAlreadyStored = 0
  #buf: Uint8Array
  #hashes: Uint8Array[] = []
  #pages: PageNo[] = []
  readonly #pagesPerSegment: number
  readonly #limit: ReturnType<typeof pLimit>
  readonly #inflight = new Set<Promise<void>>()
  #error: unknown = null

  constructor(
    readonly store: ObjectStore,
    readonly pageSize: PageSize,
    readonly opts: {
      segmentBytes?: number
      concurrency?: number
      signal?: AbortSignal
      onUploaded?: (pages: number, bytes: number) => void
      /** Look each segment up first and skip the upload of one already stored. */
      skipStored?: boolean
    } = {},
  ) {
    this.#pagesPerSegment = Math.max(1, Math.floor((opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES) / pageSize))
    this.#buf = new Uint8Array(this.#pagesPerSegment * pageSize)
    this.#limit = pLimit(Math.max(1, opts.concurrency ?? 4))
  }

  /** Add page `p` with content `page` (copied) and its hash. */
  async add(p: PageNo, page: Uint8Array, hash: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error
    this.#buf.set(page, this.#pages.length * this.pageSize)
    this.#pages.push(p)
    this.#hashes.push(hash)
    if (this.#pages.length === this.#pagesPerSegment) await this.#flush()
  }

  /**
   * Wait until no upload of this writer is in flight, ignoring their outcome. Call it before
   * abandoning a writer because the operation failed, so that no write lands after the failed
   * operation has returned.
   */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight])
  }

  /** Upload what is buffered and wait for every upload. Returns the segments and page entries. */
  async finish(): Promise<{ segments: SegmentRef[]; entries: PageEntry[] }> {
    if (this.#pages.length > 0) await this.#flush()
    await Promise.all(this.#inflight)
    if (this.#error) throw this.#error
    return { segments: this.segments, entries: this.entries }
  }

  async #flush(): Promise<void> {
    const n = this.#pages.length
    const bytes = this.#buf.subarray(0, n * this.pageSize)
    this.#buf = new Uint8Array(this.#pagesPerSegment * this.pageSize)
    const id = segmentId(this.pageSize, this.#hashes)
    const index = this.segments.length
    const ref: SegmentRef = { id, length: bytes.byteLength }
    this.segments.push(ref)
    for (let slot = 0; slot < n; slot++) this.entries.push({ pageNo: this.#pages[slot]!, segment: index, slot, hash: this.#hashes[slot]! })
    this.#pages = []
    this.#hashes = []
    // Backpressure: never hold more than `concurrency` segments beyond the one being filled.
    while (this.#inflight.size >= this.#limit.concurrency) await Promise.race(this.#inflight)
    if (this.#error) throw this.#error
    const upload = this.#limit(async () => {
      // Hashed here, where the whole segment is in hand (off the main thread), so that readers
      // verify a run with one hash call; set before `finish` returns the segment list.
      ref.runs = await runChecksumsOf(bytes)
      const signal = this.opts.signal ? { signal: this.opts.signal } : {}
      const stored = this.opts.skipStored ? await this.store.head(segmentKey(id), signal) : null
      if (stored !== null && stored.size === bytes.byteLength) {
        this.segmentsAlreadyStored++
      } else {
        // A conflict here means the store holds other bytes under this content address: not ours to hide.
        await this.store.put(segmentKey(id), bytes, { ifNoneMatch: '*', ...signal })
        this.bytesWritten += bytes.byteLength
      }
      this.opts.onUploaded?.(n, bytes.byteLength)
    }).catch((e: unknown) => {
      this.#error ??= e
    })
    const tracked = upload.finally(() => this.#inflight.delete(tracked))
    this.#inflight.add(tracked)
  }
}

/**
 * Read `pages` of resolved table `t` (each verified against its hash) into `writer`, reporting
 * progress as `phase`. A failed read waits for the writer's uploads in flight before it throws,
 * so nothing keeps running after the operation has failed. The caller then calls `finish`.
 */
export async function copyPages(ctx: RepoContext, t: ResolvedTable, pages: readonly PageNo[], writer: SegmentWriter, phase: string, opts: OperationOptions): Promise<void> {
  let done = 0
  await fetchPages(
    t,
    async (p, page, hash) => {
      await writer.add(p, page, hash)
      opts.onProgress?.({ phase, loaded: ++done, total: pages.length })
    },
    { concurrency: ctx.settings.concurrency, maxRunBytes: ctx.settings.maxRunBytes, ...(opts.signal ? { signal: opts.signal } : {}) },
    pages,
  ).catch(async (e: unknown) => {
    await writer.settle()
    throw e
  })
}
