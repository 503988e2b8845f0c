import { constants as fsc, statSync } from 'node:fs'
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { FileError, type FileProblem } from '../errors/index.js'

// errno → what was wrong with the path.
const PROBLEMS: Record<string, FileProblem> = {
  ENOENT: 'missing-directory',
  ENOTDIR: 'not-a-directory',
  EISDIR: 'is-a-directory',
  EACCES: 'permission-denied',
  EPERM: 'permission-denied',
  EROFS: 'read-only',
  EEXIST: 'not-a-directory',
  ENOSPC: 'disk-full',
  EDQUOT: 'disk-full',
  EPIPE: 'closed',
}

function kind(p: string): 'dir' | 'file' | null {
  try {
    return statSync(p).isDirectory() ? 'dir' : 'file'
  } catch {
    return null
  }
}

/**
 * A Node file-system error (`ENOENT`, `ENOTDIR`, `EACCES`, `EROFS`, `ENOSPC`, …) on `path` as a
 * {@link FileError} naming the path the caller should fix, or null if `e` is not one.
 * `path` is what the caller named (the output file, not the temporary file written beside it);
 * `creating` says the operation creates it, so a missing `path` means a missing directory.
 * A missing or non-directory component is looked up, so the error names the directory that is
 * missing or the file standing in the way.
 */
export function fileErrorFrom(e: unknown, path: string, opts: { creating?: boolean; directory?: boolean } = {}): FileError | null {
  if (typeof e !== 'object' || e === null) return null
  const errno = (e as { code?: unknown }).code
  if (typeof errno !== 'string') return null
  let problem = PROBLEMS[errno]
  // EEXIST is a path problem only where a directory was to be made; elsewhere it is a lost race.
  if (!problem || (errno === 'EEXIST' && !opts.directory)) return null
  // A file being created fails for its directory (read-only, no permission, full): name that.
  let shown = opts.creating ? dirname(path) : path
  if (errno === 'ENOENT' || errno === 'ENOTDIR') {
    // The directory that must exist: the path itself when it is the directory to make or use.
    const needed = opts.directory ? path : dirname(path)
    if (errno === 'ENOENT' && !opts.creating && !opts.directory && kind(needed) === 'dir') return new FileError({ path, problem: 'missing', errno }, { cause: e })
    let dir = needed
    while (kind(dir) === null && dirname(dir) !== dir) dir = dirname(dir)
    if (kind(dir) === 'file') [problem, shown] = ['not-a-directory', dir]
    else [problem, shown] = ['missing-directory', needed]
  }
  return new FileError({ path: shown, problem, errno }, { cause: e })
}

/**
 * Create directory `dir` and any missing parents (like `mkdir -p`); a directory already there
 * is fine. Unlike `fs.mkdir(…, { recursive: true })`, the error is the one of the directory
 * that could not be made — `EROFS` on a read-only file system, not `ENOENT` — and a file system
 * that refuses a directory without saying why cannot make it loop.
 */
export async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir)
    return
  } catch (e) {
    const code = (e as { code?: unknown }).code
    if (code === 'EEXIST' && kind(dir) === 'dir') return
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e
  }
  await makeDirectory(dirname(dir))
  try {
    await mkdir(dir)
  } catch (e) {
    // Made meanwhile by someone else: that is as good.
    if ((e as { code?: unknown }).code !== 'EEXIST' || kind(dir) !== 'dir') throw e
  }
}

/**
 * fsync a directory so a rename or link into it survives a crash. A filesystem that cannot fsync
 * a directory (EINVAL, ENOTSUP, EPERM) is no error: its renames are as durable as they get.
 */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, fsc.O_RDONLY | (fsc.O_DIRECTORY ?? 0))
  try {
    await handle.sync()
  } catch (e) {
    if (!(e instanceof Error && ['EINVAL', 'ENOTSUP', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? ''))) throw e
  } finally {
    await handle.close()
  }
}
