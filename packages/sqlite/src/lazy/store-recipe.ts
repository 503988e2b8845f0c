import { CachingStore, LocalStore, type ObjectStore } from '@strata/core'
import { distUrl } from './dist-url.js'
import type { StoreRecipe } from './protocol.js'

export type { StoreRecipe } from './protocol.js'

/**
 * A store that can be opened again in another thread: the lazy fetcher runs in a worker thread
 * (the main thread is blocked inside SQLite while it fetches), so it opens its own instance of
 * every store a branch reads from. `S3Store` implements this; so may any custom store.
 */
export interface ThreadPortableStore extends ObjectStore {
  /** How another thread opens an equivalent instance of this store, or null if it cannot. */
  threadRecipe(): StoreRecipe | null
}

/**
 * How the fetcher thread opens `store`, or null if it cannot: local directories and stores with
 * a `threadRecipe()` can; a `CachingStore` is read through its inner store (the lazy file is
 * the cache).
 */
export function recipeOf(store: ObjectStore): StoreRecipe | null {
  const portable = store as Partial<ThreadPortableStore>
  if (typeof portable.threadRecipe === 'function') return portable.threadRecipe()
  if (store instanceof CachingStore) return recipeOf(store.inner)
  if (store instanceof LocalStore) return { module: distUrl('./store-openers.js'), export: 'openLocalStore', args: [store.root] }
  return null
}
