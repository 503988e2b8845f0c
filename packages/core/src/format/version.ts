/** A format version: `[major, minor]`. A reader refuses an unknown major and reads any minor. */
export type FormatVersion = readonly [major: number, minor: number]

/**
 * The format version this build writes. 2.0: a ref's key is derived from the case-folded branch
 * name (so one create-only put keeps names unique regardless of case), and a ref carries its
 * branch's origin (so listing branches reads one object per branch).
 */
export const FORMAT_VERSION: FormatVersion = [2, 0]

/** The format major version this build writes and opens for writing. */
export const SUPPORTED_MAJOR = 2

/**
 * Every major version this build reads. A store whose marker has an older major than
 * {@link SUPPORTED_MAJOR} opens read-only until `upgrade` brings it to the current format.
 */
export const READABLE_MAJORS: readonly number[] = [1, 2]

/** `major.minor`. */
export const formatVersionString = (v: FormatVersion): string => `${v[0]}.${v[1]}`
