import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { InvalidArgumentError } from '../errors/index.js'

// The one syntax for naming a branch or snapshot in another store:
//
//   <store-url>#<branch-or-snapshot>
//
//   s3://base-bucket/prefix#main          the head of branch `main` in that S3 store
//   file:///data/base#3fa9c1e0            a snapshot (id or unique prefix) in a local store
//   ../base#main                          a plain path is a local-directory store
//
// `#` can appear in neither a branch name nor a snapshot id, so a spec with a `#` is always a
// store reference and one without never is. The last `#` separates the two parts.

/** A branch or snapshot in a store named by URL. */
export interface StoreRef {
  /** The store's URL, normalized (see {@link normalizeStoreUrl}). */
  store: string
  /** A branch name or snapshot id (or unique prefix) inside that store. */
  target: string
}

/**
 * The canonical form of a store location, so that allowlists compare exactly:
 * - a plain path becomes the `file://` URL of its absolute, normalized form;
 * - a `file:` URL is normalized the same way (`.` and `..` resolved, no trailing `/`);
 * - any other URL gets a lower-case scheme, no repeated and no trailing `/`.
 *
 * `LocalStore.url` and `S3Store.url` are already canonical. Query strings and fragments are
 * refused. Throws `InvalidArgumentError` for an empty or malformed location.
 */
export function normalizeStoreUrl(location: string): string {
  const s = location.trim()
  if (s === '') throw new InvalidArgumentError({ argument: 'store URL', reason: 'the store location is empty' })
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(s)
  if (!m) return pathToFileURL(path.resolve(s)).href
  const scheme = m[1]!.toLowerCase()
  const rest = m[2]!
  if (/[?#]/.test(rest)) {
    throw new InvalidArgumentError({ argument: 'store URL', reason: `${JSON.stringify(location)} has a query or fragment; a store URL names a location only` })
  }
  if (scheme === 'file') {
    let p: string
    try {
      p = fileURLToPath(`file://${rest}`)
    } catch (cause) {
      throw new InvalidArgumentError({ argument: 'store URL', reason: `${JSON.stringify(location)} is not a valid file: URL (${(cause as Error).message})` })
    }
    return pathToFileURL(path.resolve(p)).href
  }
  const tidy = rest.replace(/\/{2,}/g, '/').replace(/\/+$/, '')
  if (tidy === '') throw new InvalidArgumentError({ argument: 'store URL', reason: `${JSON.stringify(location)} names no location` })
  return `${scheme}://${tidy}`
}

/**
 * Parse `<store-url>#<branch-or-snapshot>`. Returns null for a spec without `#` (a branch or
 * snapshot of the current store). Throws `InvalidArgumentError` when either side of the `#` is
 * empty or the URL is malformed. The target is not validated here: the store it lives in
 * resolves it like any local spec.
 */
export function parseStoreRef(spec: string): StoreRef | null {
  const i = spec.lastIndexOf('#')
  if (i < 0) return null
  const store = spec.slice(0, i)
  const target = spec.slice(i + 1)
  if (store.trim() === '' || target === '') {
    throw new InvalidArgumentError({
      argument: 'source',
      reason: `${JSON.stringify(spec)} is not of the form <store-url>#<branch-or-snapshot> (e.g. s3://base-bucket/prefix#main)`,
    })
  }
  return { store: normalizeStoreUrl(store), target }
}

/** `<store>#<target>`: the inverse of {@link parseStoreRef} for a normalized ref. */
export function formatStoreRef(ref: StoreRef): string {
  return `${ref.store}#${ref.target}`
}
