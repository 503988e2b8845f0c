/** A format version: `[major, minor]`. A reader refuses an unknown major and reads any minor. */
export type FormatVersion = readonly [major: number, minor: number]

/** The format version this build writes. */
export const FORMAT_VERSION: FormatVersion = [1, 0]

/** The format major version this build reads. */
export const SUPPORTED_MAJOR = 1

/** `major.minor`. */
export const formatVersionString = (v: FormatVersion): string => `${v[0]}.${v[1]}`
