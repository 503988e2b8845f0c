/**
 * `@strata/core/page-reader`: the page reader and the local-directory store alone, for a thread
 * that only fetches pages (the lazy fetcher of `@strata/sqlite`). Importing it loads no repository
 * code, so such a thread starts quickly. Everything here is exported by the main entry or by
 * `@strata/core/engine` too.
 */
export { LOCK_PAGE_LEVEL } from './repo/read/resolved-table.js'
export { fetchPageRuns, type FetchedRun } from './repo/read/page-fetcher.js'
export { LocalStore } from './store/local-store.js'
