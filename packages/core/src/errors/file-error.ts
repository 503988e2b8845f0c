import { StrataError } from './strata-error.js'

/** What was wrong with a path, as {@link FileError}'s `data.problem` says it. */
export type FileProblem =
  /** The file does not exist. */
  | 'missing'
  /** The directory a file was to be created in does not exist. */
  | 'missing-directory'
  /** A path component that must be a directory is a file. */
  | 'not-a-directory'
  /** The path names a directory where a file was expected. */
  | 'is-a-directory'
  /** The file system refused access (`EACCES`, `EPERM`). */
  | 'permission-denied'
  /** The file system is mounted read-only. */
  | 'read-only'
  /** No space (or quota) left on the device; nothing partial was kept. */
  | 'disk-full'
  /** The reader of an output stream closed it before everything was written. */
  | 'closed'

const SAYS: Record<FileProblem, (path: string) => string> = {
  missing: (p) => `${p} does not exist`,
  'missing-directory': (p) => `directory ${p} does not exist`,
  'not-a-directory': (p) => `${p} is a file, not a directory`,
  'is-a-directory': (p) => `${p} is a directory, not a file`,
  'permission-denied': (p) => `${p}: permission denied`,
  'read-only': (p) => `${p} is on a read-only file system`,
  'disk-full': (p) => `${p}: no space left on the device`,
  closed: (p) => `${p} was closed by its reader before everything was written`,
}

/**
 * A file or directory the caller named cannot be used: it (or its directory) is missing, a file
 * stands where a directory should, access is denied, the file system is read-only or full.
 * `path` is the one to fix — the directory, not a temporary file inside it. The operation left
 * nothing behind. The original error, if any, is the `cause`.
 */
export class FileError extends StrataError {
  readonly code = 'STRATA_FILE_ERROR' as const
  constructor(readonly data: { path: string; problem: FileProblem; errno?: string }, options?: { cause?: unknown }) {
    super(SAYS[data.problem](data.path), options)
  }
}
