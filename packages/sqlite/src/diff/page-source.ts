import type { PageNo, ResolvedTable } from '@strata/core'
import { fetchPages } from '@strata/core/engine'

/**
 * Pages of one resolved snapshot, fetched on request in batches (adjacent pages of a segment in
 * one ranged read, requests in parallel), verified against their hashes and kept in memory.
 * Counts what it fetched, so a caller can report the cost of reading only what it needed.
 */
export class PageSource {
  readonly table: ResolvedTable
  readonly #opts: { concurrency: number; maxRunBytes: number; signal?: AbortSignal }
  readonly #pages = new Map<number, Uint8Array>()
  /** Pages fetched from the store so far. */
  fetched = 0

  constructor(table: ResolvedTable, opts: { concurrency: number; maxRunBytes: number; signal?: AbortSignal }) {
    this.table = table
    this.#opts = opts
  }

  get pageCount(): number {
    return this.table.pageCount
  }

  /** Fetch every page of `pages` (1 … pageCount) not fetched yet, in one batch. Pages out of range are ignored. */
  async load(pages: Iterable<number>): Promise<void> {
    const wanted = new Set<number>()
    for (const p of pages) if (p >= 1 && p <= this.table.pageCount && !this.#pages.has(p)) wanted.add(p)
    if (wanted.size === 0) return
    const sorted = [...wanted].sort((a, b) => a - b) as PageNo[]
    await fetchPages(this.table, (p, page) => void this.#pages.set(p, new Uint8Array(page)), this.#opts, sorted)
    this.fetched += wanted.size
    // The lock-byte page is never stored: it reads as absent.
  }

  /** Page `p` if it was loaded (null for the lock-byte page or a page out of range). */
  page(p: number): Uint8Array | null {
    return this.#pages.get(p) ?? null
  }
}
