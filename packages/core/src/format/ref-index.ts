import { CorruptObjectError } from '../errors/index.js'
import { decodeObject, encodeObject } from './codec.js'

/** One ref as the ref index caches it: its key, the store version it was read at, and its bytes. */
export interface RefIndexEntry {
  key: string
  version: string
  body: Uint8Array
}

/** Encode the ref index (entries as `[key, version, bytes]` triples). */
export function encodeRefIndex(entries: readonly RefIndexEntry[]): Uint8Array {
  return encodeObject('ref-index', { entries: entries.map((e) => [e.key, e.version, e.body]) })
}

/** Decode the ref index read from `key`, by ref key; `CorruptObjectError` on anything malformed. */
export function decodeRefIndex(key: string, bytes: Uint8Array): Map<string, RefIndexEntry> {
  const entries = decodeObject('ref-index', key, bytes).entries
  if (!Array.isArray(entries)) throw new CorruptObjectError({ key, reason: 'entries is not a list' })
  const out = new Map<string, RefIndexEntry>()
  for (const e of entries as unknown[]) {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !(e[2] instanceof Uint8Array)) {
      throw new CorruptObjectError({ key, reason: 'an entry is not [key, version, bytes]' })
    }
    out.set(e[0], { key: e[0], version: e[1], body: e[2] })
  }
  return out
}
