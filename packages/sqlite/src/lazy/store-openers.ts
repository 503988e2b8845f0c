/**
 * Openers of built-in stores inside the fetcher thread (see `StoreRecipe`): the thread imports
 * this module by URL and calls one of these with the recipe's arguments.
 */
import type { ObjectStore } from '@strata/core'
import { LocalStore } from '@strata/core/page-reader'

/** A local-directory store rooted at `root`. */
export function openLocalStore(root: string): ObjectStore {
  return new LocalStore(root)
}
