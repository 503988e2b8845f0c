/**
 * `@strata/sqlite/prewarm`: {@link prewarmLazy} alone, without the rest of the package (no
 * better-sqlite3, no `@strata/core`), so that a program can start the lazy fetcher thread
 * first thing and load everything else while the thread starts.
 */
export { prewarmLazy } from './lazy/prewarm.js'
