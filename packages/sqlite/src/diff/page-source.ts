import { closeSync, openSync, readSync } from 'node:fs'

/**
 * Pages of one side file (see `SideFiles`), read straight from the file: a lazy side file is
 * asked to fetch the pages first, in one batch, so they are then present for SQLite as well and
 * count in its statistics. Keeps the pages it read in memory.
 */
export class PageSource {
  readonly pageSize: number
  readonly pageCount: number
  readonly #path: string
  readonly #prefetch: ((pages: readonly number[]) => Promise<void>) | null
  readonly #pages = new Map<number, Uint8Array>()

  constructor(side: { path: string; pageSize: number; pageCount: number; prefetch: ((pages: readonly number[]) => Promise<void>) | null }) {
    this.#path = side.path
    this.pageSize = side.pageSize
    this.pageCount = side.pageCount
    this.#prefetch = side.prefetch
  }

  /** Pages read from the file so far. */
  get read(): number {
    return this.#pages.size
  }

  /** Read every page of `pages` (1 … pageCount) not read yet, fetching them first for a lazy file. Pages out of range are ignored. */
  async load(pages: Iterable<number>): Promise<void> {
    const wanted = new Set<number>()
    for (const p of pages) if (p >= 1 && p <= this.pageCount && !this.#pages.has(p)) wanted.add(p)
    if (wanted.size === 0) return
    const sorted = [...wanted].sort((a, b) => a - b)
    if (this.#prefetch) await this.#prefetch(sorted)
    const fd = openSync(this.#path, 'r')
    try {
      for (const p of sorted) {
        const page = new Uint8Array(this.pageSize)
        readSync(fd, page, 0, this.pageSize, (p - 1) * this.pageSize)
        this.#pages.set(p, page)
      }
    } finally {
      closeSync(fd)
    }
  }

  /** Page `p` if it was loaded, else null. */
  page(p: number): Uint8Array | null {
    return this.#pages.get(p) ?? null
  }
}
