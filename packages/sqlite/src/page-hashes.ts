import { type PageNo, type PageSize, type ResolvedTable } from '@strata/core'
import { LOCK_PAGE_LEVEL, PAGE_HASH_BYTES, hashAtEqual, lockBytePage, pageHashOf } from '@strata/core/engine'

/** What {@link PageHashes.fromResolved} built, per resolved table. */
const byTable = new WeakMap<ResolvedTable, PageHashes>()

/**
 * The 16-byte content hash of every page of one database state (page p at offset (p-1)·16), as
 * core's `hashPage` computes it. Built from a snapshot's resolved page table — manifests only, no
 * page is downloaded — and kept up to date by commits, so comparing a working database with its
 * committed state never fetches anything. The lock-byte page has no hash and compares equal:
 * SQLite stores nothing there and Strata never stores it.
 */
export class PageHashes {
  readonly pageSize: PageSize
  #pageCount: number
  #bytes: Uint8Array
  readonly #lockPage: number

  private constructor(pageSize: PageSize, pageCount: number, bytes: Uint8Array) {
    this.pageSize = pageSize
    this.#pageCount = pageCount
    this.#bytes = bytes
    this.#lockPage = lockBytePage(pageSize)
  }

  /**
   * The hashes of every page of a resolved snapshot. Remembered per table (a repository hands
   * out the same resolved table again while it is cached; both are immutable).
   */
  static fromResolved(t: ResolvedTable): PageHashes {
    let out = byTable.get(t)
    if (!out) {
      out = PageHashes.#build(t)
      byTable.set(t, out)
    }
    return out
  }

  static #build(t: ResolvedTable): PageHashes {
    const bytes = new Uint8Array(t.pageCount * PAGE_HASH_BYTES)
    const levels = t.levels.map((l) => l.manifest.pages.hashes)
    // One copy per run of pages whose entries are adjacent in one level (an imported or
    // materialized snapshot is a single run): a 1 GiB branch has 262 144 pages.
    for (let i = 0; i < t.pageCount; ) {
      const li = t.level[i]!
      if (li === LOCK_PAGE_LEVEL) {
        i++
        continue
      }
      const e = t.entry[i]!
      let j = i + 1
      while (j < t.pageCount && t.level[j] === li && t.entry[j] === e + (j - i)) j++
      bytes.set(levels[li]!.subarray(e * PAGE_HASH_BYTES, (e + j - i) * PAGE_HASH_BYTES), i * PAGE_HASH_BYTES)
      i = j
    }
    return new PageHashes(t.pageSize, t.pageCount, bytes)
  }

  /** Pages in this state. */
  get pageCount(): number {
    return this.#pageCount
  }

  /** True if page `p` exists in this state and its hash equals `hash`. */
  matches(p: number, hash: Uint8Array): boolean {
    if (p === this.#lockPage) return true
    return p <= this.#pageCount && hashAtEqual(this.#bytes, (p - 1) * PAGE_HASH_BYTES, hash, 0)
  }

  /**
   * The pages of resolved table `t` whose content differs from this state (by recorded hash),
   * including every page past this state's page count; ascending, without the lock-byte page.
   * Reads no page: manifests only.
   */
  differingPages(t: ResolvedTable): number[] {
    const out: number[] = []
    for (let p = 1; p <= t.pageCount; p++) {
      if (p === this.#lockPage) continue
      const h = pageHashOf(t, p as PageNo)
      if (!h || !this.matches(p, h)) out.push(p)
    }
    return out
  }

  /** A copy with `pageCount` pages and the given pages' hashes replaced. */
  withChanges(pageCount: number, hashes: ReadonlyMap<number, Uint8Array>): PageHashes {
    const bytes = new Uint8Array(pageCount * PAGE_HASH_BYTES)
    bytes.set(this.#bytes.subarray(0, Math.min(this.#pageCount, pageCount) * PAGE_HASH_BYTES))
    for (const [p, h] of hashes) if (p <= pageCount) bytes.set(h, (p - 1) * PAGE_HASH_BYTES)
    return new PageHashes(this.pageSize, pageCount, bytes)
  }
}
