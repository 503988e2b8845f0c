import type { ObjectStore, RepositoryOptions } from '@strata/core'
import { openStore } from './store-location.js'

/** The environment variable listing stores that cross-store fallbacks may open: comma-separated URLs or paths. */
export const ALLOW_STORES_ENV = 'STRATA_ALLOW_STORES'

/**
 * The allowlist of other stores a command may open through cross-store fallbacks: every
 * `--allow-store <url>` plus the comma-separated entries of `STRATA_ALLOW_STORES`. Empty by
 * default: a branch stacked on another store then fails with `STRATA_STORE_NOT_ALLOWED` naming
 * the URL, and nothing is sent to that store.
 */
export function allowedStores(flags: readonly string[] | undefined, env: Readonly<Record<string, string | undefined>>): string[] {
  const fromEnv = (env[ALLOW_STORES_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  return [...(flags ?? []), ...fromEnv]
}

/**
 * Repository options for cross-store reads: the allowlist, and an opener for allowed stores
 * (local directories and `s3://` URLs, as `--store` accepts) that hands each opened store to
 * `track` so the command closes it at the end.
 */
export function crossStoreOptions(allow: readonly string[], track: (store: ObjectStore) => void): Pick<RepositoryOptions, 'allowStores' | 'openStore'> {
  if (allow.length === 0) return {}
  return {
    allowStores: allow,
    openStore: async (url) => {
      const store = await openStore(url, { create: false })
      track(store)
      return store
    },
  }
}
