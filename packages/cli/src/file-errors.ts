import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import { CliError } from './cli-error.js'
import { ExitCode } from './exit-codes.js'

/** What was wrong with a path, as `STRATA_FILE_ERROR`'s `data.problem` says it. */
export type FileProblem =
  | 'missing'
  | 'missing-directory'
  | 'not-a-directory'
  | 'is-a-directory'
  | 'permission-denied'
  | 'read-only'
  | 'disk-full'

// errno → the problem and what it means.
const PROBLEMS: Record<string, { problem: FileProblem; says: string }> = {
  ENOENT: { problem: 'missing-directory', says: 'does not exist' },
  ENOTDIR: { problem: 'not-a-directory', says: 'is not a directory (a path component is a file)' },
  EISDIR: { problem: 'is-a-directory', says: 'is a directory' },
  EACCES: { problem: 'permission-denied', says: 'permission denied' },
  EPERM: { problem: 'permission-denied', says: 'operation not permitted' },
  EROFS: { problem: 'read-only', says: 'is on a read-only file system' },
  EEXIST: { problem: 'not-a-directory', says: 'is a file, not a directory' },
  ENOSPC: { problem: 'disk-full', says: 'no space left on the device' },
  EDQUOT: { problem: 'disk-full', says: 'disk quota exceeded' },
}

// Temporary files are named after the file they become (`.<name>.strata-<hex>.tmp`): name the
// directory the user chose, not a file they never asked for.
const TEMP_FILE = /\/\.[^/]*\.strata-[0-9a-f]+\.tmp$/

/**
 * A raw file-system error from Node (`ENOENT`, `EACCES`, `EROFS`, `ENOSPC`, …) as a
 * `STRATA_FILE_ERROR` naming the path and what to do, or null if `e` is not one. Problems
 * with the path given (missing directory, no permission, read-only) exit 2 like other invalid
 * arguments; a full disk exits 1.
 */
export function fileErrorFrom(e: unknown): CliError | null {
  if (!(e instanceof Error)) return null
  const { code, path, syscall } = e as NodeJS.ErrnoException
  if (typeof code !== 'string' || typeof path !== 'string') return null
  const known = PROBLEMS[code]
  // EEXIST is only a path problem where a directory was to be made; elsewhere it is a lost race.
  if (!known || (code === 'EEXIST' && syscall !== 'mkdir')) return null
  // The file the user named: a temporary file's directory is what they chose.
  const named = TEMP_FILE.test(path) ? dirname(path) : path
  let problem = known.problem
  let shown = named
  let says = known.says
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    // Which component is wrong: the deepest existing ancestor is either a file in the way or
    // the parent of the first missing directory.
    const needed = TEMP_FILE.test(path) ? dirname(path) : syscall === 'mkdir' ? path : dirname(path)
    let dir = needed
    const kind = (p: string): 'dir' | 'file' | null => {
      try {
        return statSync(p).isDirectory() ? 'dir' : 'file'
      } catch {
        return null
      }
    }
    if (code === 'ENOENT' && needed !== path && !TEMP_FILE.test(path) && kind(needed) === 'dir') {
      ;[problem, shown, says] = ['missing', named, 'does not exist']
    } else {
      while (kind(dir) === null && dirname(dir) !== dir) dir = dirname(dir)
      if (kind(dir) === 'file') [problem, shown, says] = ['not-a-directory', dir, 'is a file, not a directory']
      else [problem, shown, says] = ['missing-directory', needed, 'does not exist']
    }
  }
  const message =
    problem === 'missing-directory' ? `directory ${shown} does not exist` : problem === 'not-a-directory' ? `${shown} ${says}` : `${shown}: ${says}`
  return new CliError('STRATA_FILE_ERROR', message, {
    data: { path: shown, problem, errno: code, ...(syscall ? { syscall } : {}) },
    exitCode: problem === 'disk-full' ? ExitCode.failure : ExitCode.usage,
    cause: e,
  })
}

/** What to do about each {@link FileProblem}. */
export const FILE_PROBLEM_HINTS: Record<FileProblem, string> = {
  missing: 'check the path (relative paths start at the current directory)',
  'missing-directory': 'create the directory first (mkdir -p), or give a path in an existing one',
  'not-a-directory': 'a file sits where a directory is expected; give a path whose every parent is a directory',
  'is-a-directory': 'give the path of a file, not of a directory',
  'permission-denied': 'choose a location you can write to, or fix its permissions',
  'read-only': 'choose a location on a writable file system',
  'disk-full': 'free space on that device (or choose another location) and run the command again; nothing partial was kept',
}
