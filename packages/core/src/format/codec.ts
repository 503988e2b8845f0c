// The plain-JavaScript build (`msgpackr/pack` is the whole codec under Node). The main entry also
// loads an optional native string decoder, and a native-module finder, at import: about 14 ms of
// every process start, each `strata` command's included. It speeds up decoding strings only;
// Strata's objects are mostly bytes (page tables), and even a ref index of 20,000 branch names
// decodes in under 40 ms without it.
import { Packr } from 'msgpackr/pack'
import { CorruptObjectError, UnsupportedFormatError } from '../errors/index.js'
import { FORMAT_VERSION, READABLE_MAJORS, formatVersionString, type FormatVersion } from './version.js'

// Plain MessagePack (no msgpackr records or extensions), so any MessagePack library can read it.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true, variableMapSize: true })

/** The kinds of object Strata encodes; each object carries its kind as `strata`. */
export type ObjectKind = 'format' | 'ref' | 'branch' | 'snapshot' | 'tag' | 'pin' | 'hold' | 'base-store' | 'ref-index' | 'intent'

/** Encode `fields` as a MessagePack map with the kind marker and the current format version. */
export function encodeObject(kind: ObjectKind, fields: Record<string, unknown>): Uint8Array {
  const body = packr.pack({ strata: kind, v: FORMAT_VERSION, ...fields })
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
}

/**
 * Decode an object of `kind` read from `key`. Throws `CorruptObjectError` on bytes that are not
 * MessagePack, not a map, or not of that kind, and `UnsupportedFormatError` on an unknown major
 * format version.
 */
export function decodeObject(kind: ObjectKind, key: string, bytes: Uint8Array): Record<string, unknown> & { v: FormatVersion } {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (cause) {
    throw new CorruptObjectError({ key, reason: 'not decodable MessagePack (truncated or damaged)' }, { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new CorruptObjectError({ key, reason: 'not a map' })
  }
  const obj = value as Record<string, unknown>
  const v = obj.v
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new CorruptObjectError({ key, reason: 'no format version' })
  }
  if (!READABLE_MAJORS.includes(v[0] as number)) {
    throw new UnsupportedFormatError({ key, found: formatVersionString(v as unknown as FormatVersion), supported: READABLE_MAJORS.map((m) => `${m}.x`).join(', ') })
  }
  if (obj.strata !== kind) throw new CorruptObjectError({ key, reason: `expected a ${kind} object, found ${JSON.stringify(obj.strata)}` })
  return obj as Record<string, unknown> & { v: FormatVersion }
}

/** Field readers that turn a malformed field into `CorruptObjectError` naming the key. */
export class FieldReader {
  constructor(
    readonly key: string,
    readonly obj: Record<string, unknown>,
  ) {}

  #fail(field: string, want: string): never {
    throw new CorruptObjectError({ key: this.key, reason: `field ${field} is not ${want}` })
  }

  string(field: string): string {
    const v = this.obj[field]
    return typeof v === 'string' ? v : this.#fail(field, 'a string')
  }

  optionalString(field: string): string | null {
    const v = this.obj[field]
    return v === undefined || v === null ? null : typeof v === 'string' ? v : this.#fail(field, 'a string')
  }

  uint(field: string, max = 0xffffffff): number {
    const v = this.obj[field]
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : this.#fail(field, 'a non-negative integer')
  }

  bytes(field: string, length?: number): Uint8Array {
    const v = this.obj[field]
    if (!(v instanceof Uint8Array) || (length !== undefined && v.byteLength !== length)) {
      this.#fail(field, length === undefined ? 'binary' : `${length} bytes`)
    }
    // Copy so typed-array views over it are aligned and independent of the decode buffer.
    return new Uint8Array(v)
  }

  stringArray(field: string): string[] {
    const v = this.obj[field]
    if (v === undefined || v === null) return []
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : this.#fail(field, 'a list of strings')
  }

  object(field: string): Record<string, unknown> | null {
    const v = this.obj[field]
    if (v === undefined || v === null) return null
    return typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, unknown>) : this.#fail(field, 'a map')
  }

  array(field: string): unknown[] {
    const v = this.obj[field]
    return Array.isArray(v) ? v : this.#fail(field, 'a list')
  }
}
