/** A byte range of an object: `length` bytes starting at `offset`. */
export interface ByteRange {
  /** Zero-based offset of the first byte. */
  offset: number
  /** Number of bytes. A range running past the end of the object is cut at the end. */
  length: number
}

/** What a store knows about one object. */
export interface ObjectInfo {
  /** The object's key, relative to the store root. */
  key: string
  /** The object's size in bytes. */
  size: number
  /**
   * An opaque version token: changes whenever the key's content changes (a rewrite of identical
   * bytes may keep it, as S3's ETags do). Pass it back as `ifMatch`.
   */
  version: string
  /** When the object was last written. Used by gc's grace period. */
  lastModified: Date
}

/** The result of a successful `get`. */
export interface GetResult {
  /** The object's bytes, or the requested range of them. */
  body: Uint8Array
  /** The version of the object these bytes were read from. */
  version: string
  /** The size of the whole object, even when a range was read. */
  size: number
}

/** Conditions for `put`. At most one of them may be set. */
export interface PutOptions {
  /** `'*'`: create only. If the key holds exactly these bytes already, succeed with its version; if it holds other bytes, throw `ConflictError` and write nothing. */
  ifNoneMatch?: '*'
  /** Replace only if the current version equals this; otherwise (or if the key is missing) throw `ConflictError`. */
  ifMatch?: string
  /** Abort the request. */
  signal?: AbortSignal
}

/** Options for reads. */
export interface GetOptions {
  /** Read only this range of the object. */
  range?: ByteRange
  /** Abort the request. */
  signal?: AbortSignal
  /**
   * A buffer the caller lends for the bytes, a hint: a store may read into it when it is large
   * enough (the result's `body` is then a view of it) or ignore it. The caller must not reuse it
   * while it still uses the result.
   */
  into?: Uint8Array
}

/** Options for `list`. */
export interface ListOptions {
  /**
   * List only keys that sort after this string in UTF-8 byte order (S3's `StartAfter`). It need not
   * be a stored key, nor a valid one, nor start with the prefix: the listing holds the keys under
   * the prefix that are greater than it. Listing a key space as several ranges at once starts each
   * range after the end of the one before.
   */
  startAfter?: string
  /** Abort the listing. */
  signal?: AbortSignal
}

/**
 * A flat key → bytes namespace: the only thing Strata needs from storage.
 *
 * Contract, checked by `describeObjectStore` in `@strata/core/testing` for every implementation:
 * - Keys are validated with {@link validateKey}; an invalid key throws `InvalidKeyError` before any I/O.
 * - Absence is a value: `get` and `head` return `null` for a missing key; only the engine decides
 *   that a missing object is an error.
 * - `put` is atomic: a reader sees the old bytes or the new ones, never a mix or a partial object.
 *   Conditional puts are atomic across processes and machines sharing the store.
 * - A create-only put (`ifNoneMatch: '*'`) is idempotent: if the key already holds exactly
 *   `body` (same length, same bytes), it succeeds and returns that object's version; if it holds
 *   anything else, it throws `ConflictError`. Content-addressed objects are written this way and
 *   often written twice (a re-import, a writer run again after a crash). An outcome the store
 *   cannot see directly — a 412 or 409 answered early, a connection cut while the body was being
 *   sent — is settled by the store itself, by checking what the key holds; it never surfaces as a
 *   transport error when the object is in fact stored.
 * - `delete` is idempotent: deleting a missing key is not an error.
 * - Failures outside Strata's control surface as `StoreError` with the SDK or OS error as `cause`.
 */
export interface ObjectStore {
  /** A human-readable location of this store, e.g. `file:///data/db` or `s3://bucket/prefix`. */
  readonly url: string

  /** The bytes at `key` (or a range of them), or null if there is no object. */
  get(key: string, opts?: GetOptions): Promise<GetResult | null>

  /** Size, version and time of the object at `key`, or null if there is none. */
  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null>

  /**
   * Write `body` at `key`, atomically. With `ifNoneMatch: '*'` create only (an object already
   * holding exactly `body` is success, returning its version); with `ifMatch` replace only that
   * version. A lost condition throws `ConflictError` and writes nothing.
   */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }>

  /**
   * Every object whose key starts with `prefix` (and sorts after `startAfter`, if given), in
   * ascending UTF-8 byte order of keys, fetched page by page. Objects written or deleted during the
   * listing may or may not appear. A caller may stop iterating at any point; no further page is
   * then fetched.
   */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo>

  /**
   * Keys per page of `list`, for a caller that splits a long listing into ranges of about one page
   * each, fetched at once (see `startAfter`). Absent for a store whose listing has no pages to wait
   * on, such as the local store: a caller then lists sequentially.
   */
  readonly listPageSize?: number | undefined

  /** Delete every key in `keys`. Missing keys are ignored. Not atomic across keys. */
  delete(keys: readonly string[]): Promise<void>

  /** Release sockets, file handles and timers. The store must not be used afterwards. */
  close?(): Promise<void>
}
