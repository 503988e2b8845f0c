import { hash } from 'node:crypto'
import type { PageNo } from './page.js'

/** Bytes in a page hash: SHA-256 truncated to 128 bits. */
export const PAGE_HASH_BYTES = 16

/** The hash recorded for a page's content: the first 16 bytes of SHA-256(page). */
export function hashPage(page: Uint8Array): Uint8Array {
  // One-shot hashing: no Hash object per page (a third of the cost of hashing a 4 KiB page).
  return new Uint8Array(hash('sha256', page, 'buffer').subarray(0, PAGE_HASH_BYTES))
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Bytes of a lower-case or upper-case hex string. */
export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** True if `a` and `b` hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

/** Compare the 16-byte hash at `aOff` in `a` with the one at `bOff` in `b`. */
export function hashAtEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < PAGE_HASH_BYTES; i++) if (a[aOff + i] !== b[bOff + i]) return false
  return true
}

/** Scratch input of a checksum term, `p as u32 BE ‖ hash` (reused: hashing is synchronous). */
const TERM_INPUT = Buffer.alloc(4 + PAGE_HASH_BYTES)

/**
 * A whole-database checksum: the XOR, over every page p, of SHA-256(p as u32 BE ‖ hash(page p))
 * truncated to 16 bytes. XOR makes it order-free and updatable from a delta: replacing page p
 * XORs out its old term and XORs in the new one, so a commit never needs the unchanged pages.
 * The lock-byte page takes no part.
 */
export class DatabaseChecksum {
  readonly bytes = new Uint8Array(PAGE_HASH_BYTES)

  /** Start from an existing checksum (copied). */
  static from(bytes: Uint8Array): DatabaseChecksum {
    const c = new DatabaseChecksum()
    c.bytes.set(bytes)
    return c
  }

  /** XOR the term of page `p` whose content hash is `pageHash[offset…offset+16)` into the checksum. */
  toggle(p: PageNo, pageHash: Uint8Array, offset = 0): void {
    TERM_INPUT.writeUInt32BE(p, 0)
    TERM_INPUT.set(pageHash.subarray(offset, offset + PAGE_HASH_BYTES), 4)
    const term = hash('sha256', TERM_INPUT, 'buffer')
    for (let i = 0; i < PAGE_HASH_BYTES; i++) this.bytes[i]! ^= term[i]!
  }

  /** The checksum as hex. */
  toHex(): string {
    return toHex(this.bytes)
  }
}
