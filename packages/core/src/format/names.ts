import { InvalidNameError } from '../errors/index.js'

/** The longest branch or tag name. */
export const MAX_NAME_LENGTH = 200

const SEGMENT = /^[A-Za-z0-9_.-]+$/

/**
 * Throw `InvalidNameError` unless `name` is a valid branch (or tag) name: `/`-separated
 * segments of letters, digits, `_`, `-` and `.`; no empty segment, no `.` or `..` segment, at
 * most 200 characters, each capital letter counting twice (a name is stored as one key segment
 * with capitals escaped, see {@link encodeName}, and a key segment holds at most 200). Names are
 * case-sensitive, but a repository refuses two names that differ only in letter case (see
 * {@link foldName}), so they stay distinct on case-insensitive filesystems and to people.
 */
export function validateName(name: string, what = 'branch name'): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidNameError({ name: String(name), reason: `empty ${what}` })
  if (name.length > MAX_NAME_LENGTH) throw new InvalidNameError({ name, reason: `${what} longer than ${MAX_NAME_LENGTH} characters` })
  for (const segment of name.split('/')) {
    if (segment === '') throw new InvalidNameError({ name, reason: `${what} has an empty segment` })
    if (segment === '.' || segment === '..') throw new InvalidNameError({ name, reason: `${what} has a '${segment}' segment` })
    if (!SEGMENT.test(segment)) {
      const bad = [...segment].find((c) => !SEGMENT.test(c)) ?? '?'
      throw new InvalidNameError({ name, reason: `${what} contains ${JSON.stringify(bad)}` })
    }
  }
  // The name becomes one key segment, where each capital letter takes two characters.
  if (encodeName(name).length > MAX_NAME_LENGTH) {
    throw new InvalidNameError({ name, reason: `${what} longer than ${MAX_NAME_LENGTH} characters when each capital letter counts twice` })
  }
}

/** The case-folded form two names must not share. */
export function foldName(name: string): string {
  return name.toLowerCase()
}

/**
 * Encode a valid name as one key segment: `/` becomes `~` and an upper-case letter `X` becomes
 * `@x`. Neither `~` nor `@` may appear in a name, so the encoding is injective, `feature` and
 * `feature/x` are sibling keys (no file/directory conflict), and no two encodings differ only in
 * case (safe on case-insensitive filesystems).
 */
export function encodeName(name: string): string {
  return name.replace(/[A-Z/]/g, (c) => (c === '/' ? '~' : `@${c.toLowerCase()}`))
}

/** Inverse of {@link encodeName}; returns null for a segment no valid name encodes to. */
export function decodeName(segment: string): string | null {
  const name = segment.replace(/@([a-z])|~/g, (m, lower: string | undefined) => (m === '~' ? '/' : lower!.toUpperCase()))
  try {
    validateName(name)
  } catch {
    return null
  }
  return encodeName(name) === segment ? name : null
}

/** The protected branch: it cannot be deleted or renamed. */
export const MAIN_BRANCH = 'main'
