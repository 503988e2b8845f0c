import {
  isStrataError,
  FallbackCycleError,
  MissingObjectError,
  MissingPageError,
  StoreNotAllowedError,
} from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import type { ReadHint } from '../../format/ref.js'
import { snapshotKey } from '../../format/keys.js'
import { decodeManifest, type Fallback, type SnapshotManifest } from '../../format/manifest.js'
import { lockBytePage, type PageCount, type PageNo, type PageSize } from '../../format/page.js'
import { Lru } from './lru.js'
import { LOCK_PAGE_LEVEL, type ChainLevel, type ResolvedTable, type StoreHandle } from './resolved-table.js'

export { LOCK_PAGE_LEVEL, locatePage, pageHashOf, type ChainLevel, type PageLocation, type ResolvedTable, type StoreHandle } from './resolved-table.js'

/**
 * Opens the store a cross-store fallback names. It must refuse (throw `StoreNotAllowedError`)
 * any store the caller has not allowed, before sending it any request; Strata then checks that
 * the opened store's identity is the one the fallback recorded. `store` is what the fallback
 * recorded (identity, and the URL at the time it was written), `snapshot` the snapshot wanted
 * there, `from` the store holding the fallback. The default resolver is `AllowlistResolver`.
 */
export type FallbackStoreResolver = (store: { url: string; id: string }, snapshot: SnapshotId, from?: StoreHandle) => Promise<StoreHandle>

const UNSET = 0xfffe

/** Shorten a snapshot id for messages. */
export const shortId = (id: string): string => id.slice(0, 12)

/** A branch or snapshot named by the caller, resolved. */
export interface Target {
  snapshot: SnapshotId
  /** The branch, when the spec named one. */
  branch: string | null
  /** That branch's ref hint for `snapshot`, if it has one (a branch created from it copies it). */
  readHint?: ReadHint
}

/**
 * Loads manifests (immutable, so cached for good) and resolves chains. One per repository.
 */
export class ChainLoader {
  readonly #manifests = new Lru<string, SnapshotManifest>(256 * 1024 * 1024, (m) => 1024 + m.pages.pageNos.length * 28)
  readonly #tables = new Lru<string, ResolvedTable>(4, () => 1)
  /** Loads in flight: thousands of branches share a manifest, and each must cost one read, not one per asker. */
  readonly #loading = new Map<string, Promise<SnapshotManifest>>()
  readonly #stores = new Map<string, Promise<StoreHandle>>()

  constructor(
    readonly home: StoreHandle,
    readonly resolveStore: FallbackStoreResolver | undefined,
  ) {}

  /** The manifest of snapshot `id` in `store` (default: the repository's store). */
  async manifest(id: SnapshotId, store: StoreHandle = this.home, referencedBy?: string): Promise<SnapshotManifest> {
    const cacheKey = `${store.id}/${id}`
    const hit = this.#manifests.get(cacheKey)
    if (hit) return hit
    let loading = this.#loading.get(cacheKey)
    if (!loading) {
      loading = this.#load(id, store).finally(() => this.#loading.delete(cacheKey))
      this.#loading.set(cacheKey, loading)
    }
    try {
      return await loading
    } catch (e) {
      // Each asker learns who referenced the missing snapshot from its own point of view.
      if (referencedBy && isStrataError(e, 'STRATA_MISSING_OBJECT')) throw new MissingObjectError({ key: (e.data as { key: string }).key, referencedBy })
      throw e
    }
  }

  async #load(id: SnapshotId, store: StoreHandle): Promise<SnapshotManifest> {
    const key = snapshotKey(id)
    const got = await store.store.get(key)
    if (!got) throw new MissingObjectError({ key: store === this.home ? key : `${store.store.url}/${key}` })
    const m = decodeManifest(id, got.body)
    this.#manifests.set(`${store.id}/${id}`, m)
    return m
  }

  /**
   * Drop cached manifests of `ids` in the home store, and every resolved table (any may read
   * them), so that snapshots gc deleted stop looking present to this process.
   */
  forget(ids: Iterable<SnapshotId>): void {
    for (const id of ids) {
      this.#manifests.delete(`${this.home.id}/${id}`)
      this.#loading.delete(`${this.home.id}/${id}`)
    }
    this.#tables.clear()
  }

  /** The store a fallback points into. */
  async storeFor(from: StoreHandle, fb: Fallback): Promise<StoreHandle> {
    if (!fb.store || fb.store.id === this.home.id) return fb.store ? this.home : from
    const { url, id } = fb.store
    let p = this.#stores.get(`${id} ${url}`)
    if (!p) {
      p = (async () => {
        if (!this.resolveStore) {
          throw new StoreNotAllowedError({ url, snapshot: fb.snapshot, reason: 'cross-store fallbacks are not allowed (no store is on the allowlist)' }, { hint: 'allow-store' })
        }
        const handle = await this.resolveStore({ url, id }, fb.snapshot, from)
        if (handle.id !== id) {
          throw new StoreNotAllowedError({
            url: handle.store.url,
            snapshot: fb.snapshot,
            reason: `the store there has identity ${handle.id}, but the fallback recorded ${id}: it was moved or swapped (if it moved, run repoint)`,
          })
        }
        return handle
      })()
      this.#stores.set(`${id} ${url}`, p)
      p.catch(() => this.#stores.delete(`${id} ${url}`))
    }
    return p
  }

  /**
   * Forget the opened handle of store `id` (every URL), so the next read resolves its location
   * again — after `repoint` moved it. Cached manifests stay: they are immutable and identified
   * by store identity, not location.
   */
  forgetStore(id: string): void {
    for (const k of this.#stores.keys()) if (k.startsWith(`${id} `)) this.#stores.delete(k)
    this.#tables.clear()
  }

  /**
   * The chain of snapshot `id`: itself, then each fallback down to a standalone snapshot.
   * Throws `MissingObjectError` for a missing level and `FallbackCycleError` for a loop.
   */
  async chain(id: SnapshotId, store: StoreHandle = this.home): Promise<ChainLevel[]> {
    const levels: ChainLevel[] = []
    const seen = new Set<string>()
    let cur: { id: SnapshotId; store: StoreHandle } | null = { id, store }
    while (cur) {
      const tag = `${cur.store.id}/${cur.id}`
      if (seen.has(tag)) throw new FallbackCycleError({ snapshot: id, chain: [...levels.map((l) => shortId(l.id)), shortId(cur.id)] })
      seen.add(tag)
      const prev: ChainLevel | undefined = levels[levels.length - 1]
      const manifest = await this.manifest(cur.id, cur.store, prev ? `the fallback of snapshot ${prev.id}` : undefined)
      if (prev && manifest.pageSize !== prev.manifest.pageSize) {
        throw new MissingPageError({ branch: null, snapshot: id, pageNo: 1 as PageNo, pageCount: prev.manifest.pageCount, chain: [...levels.map((l) => shortId(l.id)), `${shortId(cur.id)} (page size ${manifest.pageSize} ≠ ${prev.manifest.pageSize})`] })
      }
      levels.push({ id: cur.id, manifest, store: cur.store })
      const fb: Fallback | null = manifest.fallback
      cur = fb ? { id: fb.snapshot, store: await this.storeFor(cur.store, fb) } : null
    }
    return levels
  }

  /**
   * Resolve every page of snapshot `id` down its chain. A page that no level serves is a
   * `MissingPageError` naming `branch` (if given), the snapshot, the page and the chain.
   * Reading page p: the snapshot's own entry if it has one, else p from the fallback — but a
   * fallback cannot serve a page past its own page count, nor can anything below it.
   */
  async resolve(id: SnapshotId, opts: { branch?: string | null; store?: StoreHandle } = {}): Promise<ResolvedTable> {
    const store = opts.store ?? this.home
    const cacheKey = `${store.id}/${id}`
    const hit = this.#tables.get(cacheKey)
    if (hit) return hit
    const levels = await this.chain(id, store)
    const top = levels[0]!.manifest
    const n = top.pageCount
    const level = new Uint16Array(n).fill(UNSET)
    const entry = new Uint32Array(n)
    const lockPage = lockBytePage(top.pageSize)
    if (lockPage <= n) level[lockPage - 1] = LOCK_PAGE_LEVEL
    let cap: number = n
    let unresolved = lockPage <= n ? n - 1 : n
    for (let li = 0; li < levels.length && unresolved > 0; li++) {
      const m = levels[li]!.manifest
      cap = Math.min(cap, m.pageCount)
      const pageNos = m.pages.pageNos
      for (let e = 0; e < pageNos.length; e++) {
        const p = pageNos[e]!
        if (p > cap) break
        if (level[p - 1] === UNSET) {
          level[p - 1] = li
          entry[p - 1] = e
          unresolved--
        }
      }
    }
    if (unresolved > 0) {
      const missing = level.indexOf(UNSET) + 1
      throw new MissingPageError({
        branch: opts.branch ?? null,
        snapshot: id,
        pageNo: missing as PageNo,
        pageCount: n,
        chain: levels.map((l) => `${shortId(l.id)} (${l.manifest.pageCount} pages)`),
      })
    }
    const table: ResolvedTable = { snapshot: id, pageSize: top.pageSize, pageCount: n, levels, level, entry }
    this.#tables.set(cacheKey, table)
    return table
  }
}
