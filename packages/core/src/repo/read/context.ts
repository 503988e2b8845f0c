import { InvalidArgumentError, NotARepositoryError } from '../../errors/index.js'
import { FORMAT_KEY } from '../../format/keys.js'
import { decodeStoreMarker } from '../../format/store-marker.js'
import { normalizeStoreUrl } from '../../format/store-ref.js'
import type { ObjectStore } from '../../store/object-store.js'
import { ChainLoader, type FallbackStoreResolver, type StoreHandle } from './chain.js'
import { AllowlistResolver, type StoreOpener } from './fallback-stores.js'
import { LegacyFormatStore } from './legacy-store.js'
import { SUPPORTED_MAJOR } from '../../format/version.js'

/** Tuning and policy for a repository. */
export interface RepositoryOptions {
  /** Target size of segments written by import, commit and materialize. Default 4 MiB. */
  segmentBytes?: number
  /** Parallel transfers (uploads and ranged reads). Default 8. */
  concurrency?: number
  /**
   * Largest single ranged read; adjacent pages are coalesced up to it. Default 2 MiB: at the
   * default concurrency reads in flight hold about 16 MiB (twice that while hashed), and a
   * 256 MiB export makes 128 requests — 16 round trips of latency.
   */
  maxRunBytes?: number
  /**
   * Store URLs (or paths) that cross-store fallbacks may open, besides this store: an exact match
   * after `normalizeStoreUrl`. A store is opened only if its URL is on this list — never because a
   * manifest names it. Default: none.
   */
  allowStores?: readonly string[]
  /** Opens an allowed store by URL (e.g. `(url) => S3Store.fromUrl(url)`). Default: `file:` URLs only. */
  openStore?: StoreOpener
  /**
   * Opens stores that cross-store fallbacks name: a custom policy instead of `allowStores` (give
   * one or the other). Default: an {@link AllowlistResolver} over `allowStores`.
   */
  fallbackStores?: FallbackStoreResolver
  /**
   * `init` only: create the repository even if the store does not enforce conditional writes
   * (compare-and-swap). Without it, `init` probes the store and refuses with `UnsafeStoreError`.
   * Only safe when a single writer will ever use the store. Default false.
   */
  unsafeNoCas?: boolean
  /** Author recorded when an operation names none. Default `$USER` or `unknown`. */
  defaultAuthor?: string
  /** The clock (tests). */
  now?: () => Date
}

/** Target size of the segments a write produces, unless `segmentBytes` says otherwise. */
export const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024

/** {@link RepositoryOptions} with every default filled in. */
export type RepoSettings = Required<Omit<RepositoryOptions, 'fallbackStores' | 'openStore'>> & Pick<RepositoryOptions, 'fallbackStores' | 'openStore'>

/**
 * What every repository operation works with: the store and its identity, the chain loader
 * (manifest and table caches), the settings, the allowlist that opens other stores, and the
 * clock. Built once per open repository by {@link createContext}; operations take it as their
 * first argument and import the functions they need directly.
 */
export interface RepoContext {
  readonly store: ObjectStore
  /** The store's identity (UUID). */
  readonly storeId: string
  /** The store with its identity, as chains name it. */
  readonly handle: StoreHandle
  /** Loads manifests and resolves chains (cached). */
  readonly chains: ChainLoader
  readonly settings: RepoSettings
  /** The allowlist that opens other stores for cross-store fallbacks (null with a custom `fallbackStores`, or none allowed). */
  readonly allowlist: AllowlistResolver | null
  /** The clock. */
  readonly now: () => Date
}

/** Build the context of the repository with identity `storeId` in `store`. */
export function createContext(store: ObjectStore, storeId: string, options: RepositoryOptions = {}): RepoContext {
  if (options.fallbackStores && options.allowStores && options.allowStores.length > 0) {
    throw new InvalidArgumentError({ argument: 'fallbackStores', reason: 'give either allowStores or a custom fallbackStores resolver, not both' })
  }
  const handle: StoreHandle = { store, id: storeId }
  const now = options.now ?? (() => new Date())
  const allowStores = (options.allowStores ?? []).map(normalizeStoreUrl)
  const allowlist =
    options.fallbackStores || allowStores.length === 0
      ? null
      : new AllowlistResolver(handle, { allow: allowStores, ...(options.openStore ? { open: options.openStore } : {}) })
  const settings: RepoSettings = {
    segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    concurrency: options.concurrency ?? 8,
    maxRunBytes: options.maxRunBytes ?? 2 * 1024 * 1024,
    defaultAuthor: options.defaultAuthor ?? process.env.USER ?? 'unknown',
    now,
    allowStores,
    openStore: options.openStore,
    unsafeNoCas: options.unsafeNoCas ?? false,
    fallbackStores: options.fallbackStores ?? allowlist?.resolve,
  }
  return { store, storeId, handle, chains: new ChainLoader(handle, settings.fallbackStores), settings, allowlist, now }
}

/**
 * Read the format marker of `store` and build its context. `NotARepositoryError` if it has no
 * marker, `UnsupportedFormatError` if a newer, incompatible format wrote it. A store of an older
 * format this build reads is opened read-only (a {@link LegacyFormatStore}: writes throw
 * `UpgradeRequiredError` until `upgrade`).
 */
export async function openContext(store: ObjectStore, options: RepositoryOptions = {}): Promise<RepoContext> {
  const got = await store.get(FORMAT_KEY)
  if (!got) throw new NotARepositoryError({ store: store.url })
  const marker = decodeStoreMarker(got.body)
  const view = marker.formatVersion[0] < SUPPORTED_MAJOR ? new LegacyFormatStore(store, marker.formatVersion) : store
  return createContext(view, marker.storeId, options)
}

/** The current time as ISO-8601, through the context's clock. */
export function nowIso(ctx: RepoContext): string {
  return ctx.now().toISOString()
}
