import { fileURLToPath } from 'node:url'
import { StoreNotAllowedError, isStrataError } from '../../errors/index.js'
import { decodeBaseStoreRecord } from '../../format/base-store-record.js'
import type { SnapshotId } from '../../format/ids.js'
import { FORMAT_KEY, baseStoreKey } from '../../format/keys.js'
import { decodeStoreMarker } from '../../format/store-marker.js'
import { normalizeStoreUrl } from '../../format/store-ref.js'
import { LocalStore } from '../../store/local-store.js'
import type { ObjectStore } from '../../store/object-store.js'
import type { StoreHandle } from './chain.js'

/**
 * Opens a store from its (normalized) URL. Must not contact the store: the first request is the
 * read of its format marker. Strata calls it only for URLs on the allowlist.
 */
export type StoreOpener = (url: string) => ObjectStore | Promise<ObjectStore>

/**
 * The default {@link StoreOpener}: `file:` URLs open a `LocalStore` (without creating the
 * directory); any other scheme is refused, since core knows no other store — pass an opener that
 * knows S3 (e.g. `(url) => S3Store.fromUrl(url)`).
 */
export function openFileStore(url: string): ObjectStore {
  if (!url.startsWith('file:')) throw new Error(`no store opener for ${url}: only file: URLs are built in; pass openStore to open other stores`)
  return new LocalStore(fileURLToPath(url))
}

/** Options of {@link AllowlistResolver}. */
export interface AllowlistOptions {
  /** Store URLs (or paths) that fallbacks may open; compared after `normalizeStoreUrl`. */
  allow: readonly string[]
  /** Opens an allowed store. Default {@link openFileStore}. */
  open?: StoreOpener
}

/** Where a base store is to be read from, and what said so. */
export interface BaseLocation {
  url: string
  /** `record`: a base-store record (`bases/<id>`) of `recordStore`; `fallback`: the URL the fallback recorded. */
  source: 'record' | 'fallback'
  /** The store whose record named the location (for `record`). */
  recordStore?: string
}

/**
 * The standard {@link FallbackStoreResolver}: it opens a store that a cross-store fallback names
 * only if that store's current URL is on the allowlist — never merely because a manifest says so.
 *
 * The current URL of base store `id` is, in order: the base-store record `bases/<id>` of the home
 * repository (written at branch creation, moved by `repoint`), then that record in the store
 * holding the fallback (a chain crossing several stores follows its middle store's repoints),
 * then the URL recorded in the fallback itself. Whatever names the URL, it must be allowed.
 *
 * A disallowed URL is a `StoreNotAllowedError` naming the URL and snapshot, raised before any
 * request to that store. An allowed store that cannot be read (unreachable, no repository there)
 * is the same error with the reason and the store error as `cause`. The identity check against
 * the fallback's recorded id is the chain loader's. Opened stores are shared by every chain
 * loader of the repository and closed by {@link close}.
 */
export class AllowlistResolver {
  /** The allowlist, normalized. */
  readonly allowed: ReadonlySet<string>
  readonly #home: StoreHandle
  readonly #open: StoreOpener
  readonly #opened = new Map<string, Promise<StoreHandle>>()
  readonly #locations = new Map<string, Promise<BaseLocation | null>>()

  constructor(home: StoreHandle, opts: AllowlistOptions) {
    this.#home = home
    this.#open = opts.open ?? openFileStore
    this.allowed = new Set(opts.allow.map(normalizeStoreUrl))
  }

  /** True if `url` (normalized here) is on the allowlist. */
  isAllowed(url: string): boolean {
    return this.allowed.has(normalizeStoreUrl(url))
  }

  /** The {@link FallbackStoreResolver} function of this allowlist. */
  readonly resolve = async (store: { url: string; id: string }, snapshot: SnapshotId, from?: StoreHandle): Promise<StoreHandle> => {
    const located = await this.locate(store.id, from)
    const url = located?.url ?? store.url
    return this.open(url, snapshot, located?.source === 'record' ? ` (located through ${baseStoreKey(store.id)} of ${located.recordStore})` : '')
  }

  /**
   * Where base store `id` lives according to the base-store records of the home store and of
   * `from`, or null if neither has a record (the fallback's own URL then applies).
   */
  async locate(id: string, from?: StoreHandle): Promise<BaseLocation | null> {
    const home = await this.#recordIn(this.#home, id)
    if (home) return home
    if (from && from.id !== this.#home.id) return this.#recordIn(from, id)
    return null
  }

  /**
   * Open the store at `url` for reading `snapshot` (named in errors): refuses a URL that is not
   * allowed before any request, then reads its format marker. The handle's `id` is the identity
   * the store itself declares; callers compare it with the one they expect.
   */
  async open(url: string, snapshot: string | undefined, note = ''): Promise<StoreHandle> {
    const normalized = normalizeStoreUrl(url)
    if (!this.allowed.has(normalized)) {
      const allowed = this.allowed.size === 0 ? 'none' : [...this.allowed].join(', ')
      throw new StoreNotAllowedError(
        { url: normalized, ...(snapshot === undefined ? {} : { snapshot }), reason: `the store is not on the allowlist of stores fallbacks may open${note} (allowed: ${allowed})` },
        { hint: 'allow-store' },
      )
    }
    let p = this.#opened.get(normalized)
    if (!p) {
      p = this.#openAllowed(normalized, snapshot)
      this.#opened.set(normalized, p)
      p.catch(() => this.#opened.delete(normalized))
    }
    return p
  }

  /** Forget the cached location of base store `id` (after its record changed). */
  forget(id: string): void {
    for (const k of this.#locations.keys()) if (k.endsWith(` ${id}`)) this.#locations.delete(k)
  }

  /** Close every store this resolver opened. */
  async close(): Promise<void> {
    const opened = [...this.#opened.values()]
    this.#opened.clear()
    await Promise.allSettled(opened.map(async (p) => (await p).store.close?.()))
  }

  async #openAllowed(url: string, snapshot: string | undefined): Promise<StoreHandle> {
    let store: ObjectStore
    try {
      store = await this.#open(url)
    } catch (cause) {
      throw new StoreNotAllowedError({ url, snapshot, reason: `it cannot be opened: ${messageOf(cause)}` }, { cause })
    }
    let got
    try {
      got = await store.get(FORMAT_KEY)
    } catch (cause) {
      await store.close?.().catch(() => {})
      throw new StoreNotAllowedError({ url, snapshot, reason: `it is unreachable: ${messageOf(cause)}` }, { cause })
    }
    if (!got) {
      await store.close?.().catch(() => {})
      throw new StoreNotAllowedError({ url, snapshot, reason: 'it holds no Strata repository (moved or deleted?)' })
    }
    try {
      return { store, id: decodeStoreMarker(got.body).storeId }
    } catch (cause) {
      await store.close?.().catch(() => {})
      if (isStrataError(cause)) throw new StoreNotAllowedError({ url, snapshot, reason: `its format marker is unreadable: ${messageOf(cause)}` }, { cause })
      throw cause
    }
  }

  #recordIn(handle: StoreHandle, id: string): Promise<BaseLocation | null> {
    const k = `${handle.id} ${id}`
    let p = this.#locations.get(k)
    if (!p) {
      p = (async () => {
        const key = baseStoreKey(id)
        const got = await handle.store.get(key)
        return got ? { url: decodeBaseStoreRecord(key, got.body).url, source: 'record' as const, recordStore: handle.store.url } : null
      })()
      this.#locations.set(k, p)
      p.catch(() => this.#locations.delete(k))
    }
    return p
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
