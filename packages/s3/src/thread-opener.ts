/**
 * The module another thread imports to open its own `S3Store` (see `S3Store.threadRecipe`). A
 * file of its own, so that a bundle of the `strata` command can ship it as an entry point of its
 * own, next to the chunk that holds `S3Store`, under this name.
 */
export { openS3StoreInThread } from './s3-store.js'
