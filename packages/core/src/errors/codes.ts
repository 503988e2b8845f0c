/**
 * Every stable error code Strata uses. Codes are part of the public interface: they are
 * never renamed or reused; new ones may be added.
 */
export const ERROR_CODES = [
  /** A page that a snapshot should resolve to is in no level of its chain. */
  'STRATA_MISSING_PAGE',
  /** An object a manifest or ref references does not exist in the store. */
  'STRATA_MISSING_OBJECT',
  /** A page's bytes do not match the hash recorded for it. */
  'STRATA_CORRUPT_PAGE',
  /** A stored object (manifest, ref, segment) cannot be decoded or fails its own checks. */
  'STRATA_CORRUPT_OBJECT',
  /** A whole-database checksum does not match the bytes produced. */
  'STRATA_CHECKSUM_MISMATCH',
  /** The store holds a format version this build does not understand. */
  'STRATA_UNSUPPORTED_FORMAT',
  /** The store uses an older format this build reads but does not write; run `strata upgrade`. */
  'STRATA_UPGRADE_REQUIRED',
  /** A conditional write lost: someone else created or moved the object first. */
  'STRATA_CONFLICT',
  /** The store holds no Strata repository (no format marker). */
  'STRATA_NOT_A_REPOSITORY',
  /** `init` on a store that already holds a repository. */
  'STRATA_REPOSITORY_EXISTS',
  /** A branch name breaks the naming rules. */
  'STRATA_INVALID_NAME',
  /** An object key would escape the store or is otherwise not allowed. */
  'STRATA_INVALID_KEY',
  /** No branch has that name. */
  'STRATA_BRANCH_NOT_FOUND',
  /** A branch with that name (or one differing only in case) exists already. */
  'STRATA_BRANCH_EXISTS',
  /** No snapshot matches that id or prefix, or a prefix matches several. */
  'STRATA_SNAPSHOT_NOT_FOUND',
  /** The operation is not allowed on this branch (e.g. deleting `main`). */
  'STRATA_PROTECTED_BRANCH',
  /** A file handed to import is not a usable SQLite database. */
  'STRATA_INVALID_DATABASE',
  /** An argument is out of range or malformed. */
  'STRATA_INVALID_ARGUMENT',
  /** A fallback chain loops back on itself. */
  'STRATA_FALLBACK_CYCLE',
  /** A fallback names a store the caller has not allowed, or one that cannot be reached or is not the one recorded. */
  'STRATA_STORE_NOT_ALLOWED',
  /** A store operation failed for a reason outside Strata (I/O, network, permissions). */
  'STRATA_STORE_ERROR',
  /** The operation was aborted by its caller. */
  'STRATA_ABORTED',
  /** A live database has changes not yet committed, and the operation would lose them. */
  'STRATA_UNCOMMITTED_CHANGES',
  /** The operation is not possible in the object's current state (e.g. a closed handle, an open SQL transaction). */
  'STRATA_INVALID_STATE',
  /** The store does not enforce conditional writes (compare-and-swap), and the caller did not opt in to using it anyway. */
  'STRATA_UNSAFE_STORE',
  /** A tag with that name (or one differing only in case) exists already; tags never move. */
  'STRATA_TAG_EXISTS',
  /** No tag has that name. */
  'STRATA_TAG_NOT_FOUND',
  /** A file or directory the caller named cannot be used (missing, not a directory, no permission, read-only, full). */
  'STRATA_FILE_ERROR',
  /** A merge found conflicts its strategy does not resolve; nothing was committed (`@strata/sqlite`). */
  'STRATA_MERGE_CONFLICT',
  /** A merge's result would fail SQLite's integrity or foreign-key checks; nothing was committed (`@strata/sqlite`). */
  'STRATA_MERGE_REFUSED',
] as const

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number]

/**
 * What the caller can do about an error, for a front end to render in its own terms (the CLI
 * names its flag). Stable, like the codes.
 * - `overwrite`: the output exists; allow replacing it.
 * - `force`: the operation was refused as probably unintended; confirm it.
 * - `allow-store`: the store at `data.url` is not on the allowlist; add it.
 * - `unsafe-no-cas`: the store does not enforce compare-and-swap; opt in to using it anyway.
 */
export type HintCode = 'overwrite' | 'force' | 'allow-store' | 'unsafe-no-cas'
