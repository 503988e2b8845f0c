import { InvalidArgumentError, InvalidKeyError } from '../errors/index.js'
import type { PutOptions } from './object-store.js'

/** The longest key any store accepts, in UTF-8 bytes (S3's limit; filesystems allow 255 per segment). */
export const MAX_KEY_BYTES = 1024

const ALLOWED = /^[A-Za-z0-9._~%@+=,:-]+$/

/**
 * Throw `InvalidKeyError` unless `key` is a safe, store-relative object key: non-empty
 * `/`-separated segments of `[A-Za-z0-9._~%@+=,:-]`, no `.` or `..` segment, no leading or
 * trailing `/`, no NUL or control character, no backslash, at most 1024 bytes, no segment over
 * 200 bytes. Every store calls this before any I/O, so no key can escape its root or prefix.
 */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError({ key: String(key), reason: 'empty key' })
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidKeyError({ key, reason: `longer than ${MAX_KEY_BYTES} bytes` })
  if (key.startsWith('/')) throw new InvalidKeyError({ key, reason: 'absolute path' })
  for (const segment of key.split('/')) {
    if (segment.length === 0) throw new InvalidKeyError({ key, reason: 'empty path segment' })
    if (segment === '.' || segment === '..') throw new InvalidKeyError({ key, reason: `'${segment}' segment` })
    if (segment.length > 200) throw new InvalidKeyError({ key, reason: 'path segment longer than 200 characters' })
    if (!ALLOWED.test(segment)) {
      const bad = [...segment].find((c) => !ALLOWED.test(c)) ?? '?'
      throw new InvalidKeyError({ key, reason: `character ${JSON.stringify(bad)} is not allowed` })
    }
  }
}

/**
 * Throw `InvalidKeyError` unless `prefix` is usable for `list`: empty, or a key, or a key
 * followed by `/`.
 */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix)
}

/** True if `key` passes {@link validateKey} (for filtering listings, where a bad key is skipped, not an error). */
export function isValidKey(key: string): boolean {
  try {
    validateKey(key)
    return true
  } catch {
    return false
  }
}

/**
 * Check a put's conditions before any I/O, alike in every store: at most one of them,
 * `ifNoneMatch` only `'*'`, `ifMatch` a non-empty version string. `InvalidArgumentError` otherwise.
 */
export function validatePutOptions(opts: PutOptions): void {
  if (opts.ifNoneMatch !== undefined && opts.ifMatch !== undefined) {
    throw new InvalidArgumentError({ argument: 'put options', reason: 'ifNoneMatch and ifMatch cannot both be set' })
  }
  if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== '*') {
    throw new InvalidArgumentError({ argument: 'ifNoneMatch', reason: `only '*' is supported (got ${JSON.stringify(opts.ifNoneMatch)})` })
  }
  if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== 'string' || opts.ifMatch === '')) {
    throw new InvalidArgumentError({ argument: 'ifMatch', reason: 'must be a version string returned by the store' })
  }
}

/**
 * Compare two strings in UTF-8 byte order, the order every store lists keys in (S3's order), without
 * encoding them: it is code point order, which is UTF-16 code unit order except that surrogates
 * (pairs, U+10000 and up) rank above U+E000–U+FFFF, so the first differing units are compared with
 * the surrogates moved above that range. Negative, zero or positive, as for `Array.prototype.sort`.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000
  if (unit >= 0xe000) return unit - 0x800
  return unit
}
