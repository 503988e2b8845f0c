import { join } from 'node:path'
import { CachingStore, Repository, type RepositoryOptions } from '@strata/core'

/**
 * The local cache of immutable store objects (segments and manifests) a live branch reads
 * through: `true` or an object turns it on, `false` off. `dir` defaults to `<cacheDir>/segments`
 * and `maxBytes` to `CachingStore`'s default (1 GiB).
 */
export type SegmentCacheOption = boolean | { dir?: string; maxBytes?: number }

/**
 * The repository a live branch works through: `repo` itself when the cache is off, when its
 * store is a local directory (`file:` URL — a disk cache of a disk store gains nothing) and the
 * option is not set, or when it already reads through a `CachingStore`; otherwise the same
 * repository (same options) opened over a `CachingStore` in front of `repo.store`, with its
 * entries under `dir` (default `<cacheRoot>/segments`), shared by every branch, handle and
 * process using that directory. Opening it reads the store's format marker once.
 */
export async function repositoryWithCache(repo: Repository, option: SegmentCacheOption | undefined, cacheRoot: string): Promise<Repository> {
  const on = option === undefined ? !repo.store.url.startsWith('file:') : option !== false
  if (!on || repo.store instanceof CachingStore) return repo
  const o = typeof option === 'object' ? option : {}
  const store = new CachingStore(repo.store, { dir: o.dir ?? join(cacheRoot, 'segments'), ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}) })
  return Repository.open(store, sameOptions(repo))
}

/** Options that make a second repository over the same store behave like `repo`. */
function sameOptions(repo: Repository): RepositoryOptions {
  const o = repo.options
  const out: RepositoryOptions = {
    segmentBytes: o.segmentBytes,
    concurrency: o.concurrency,
    maxRunBytes: o.maxRunBytes,
    defaultAuthor: o.defaultAuthor,
    now: o.now,
  }
  if (o.fallbackStores) out.fallbackStores = o.fallbackStores
  return out
}
