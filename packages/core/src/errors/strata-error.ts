import type { ErrorCode, HintCode } from './codes.js'

/**
 * Base class of every error Strata throws on purpose.
 *
 * `code` is stable (see {@link ErrorCode}) and `data` carries the fields a program needs.
 * Check errors with {@link isStrataError}, which compares codes rather than classes, so two
 * copies of this package in one process still agree.
 */
export abstract class StrataError extends Error {
  abstract readonly code: ErrorCode
  abstract readonly data: Readonly<Record<string, unknown>>
  /**
   * What the caller can do about it, when the fix is one of the caller's own choices (see
   * {@link HintCode}): a front end renders it in its own terms, e.g. the CLI as a flag. Messages
   * never name front-end flags themselves.
   */
  readonly hint: HintCode | undefined

  constructor(message: string, options?: { cause?: unknown; hint?: HintCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.hint = options?.hint
  }

  /** A plain object for `--json` output and logs: `{ name, code, message, data }`, plus `hint` when set. */
  toJSON(): { name: string; code: ErrorCode; message: string; data: Readonly<Record<string, unknown>>; hint?: HintCode } {
    return { name: this.name, code: this.code, message: this.message, data: this.data, ...(this.hint ? { hint: this.hint } : {}) }
  }
}

/** True if `e` is a Strata error, and (when given) has the stable code `code`. */
export function isStrataError<C extends ErrorCode>(e: unknown, code?: C): e is StrataError & { code: C } {
  if (typeof e !== 'object' || e === null) return false
  const c = (e as { code?: unknown }).code
  if (typeof c !== 'string' || !c.startsWith('STRATA_')) return false
  return code === undefined || c === code
}
