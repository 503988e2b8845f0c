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

/** SHA-256 round constants. */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74,
  0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d,
  0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
  0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])
/** SHA-256 initial state. */
const IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
/** Message schedule scratch (reused: hashing is synchronous). */
const W = new Uint32Array(64)

/**
 * The first 16 bytes of SHA-256(`p` as u32 BE ‖ `h[offset…offset+16)`), XORed into `into`. The
 * 20-byte message fits one block, so this is one compression in plain JS: about four times
 * faster than a `crypto.hash` call, whose fixed cost dominates for tiny inputs, and a checksum
 * takes one per page of the database.
 */
function xorTerm(into: Uint8Array, p: number, h: Uint8Array, offset: number): void {
  W[0] = p
  for (let j = 0; j < 4; j++) {
    const o = offset + 4 * j
    W[1 + j] = (h[o]! << 24) | (h[o + 1]! << 16) | (h[o + 2]! << 8) | h[o + 3]!
  }
  // Padding: a 1 bit after the message, zeros, then its length in bits (160).
  W[5] = 0x80000000
  W.fill(0, 6, 15)
  W[15] = 160
  for (let j = 16; j < 64; j++) {
    const x = W[j - 15]!
    const y = W[j - 2]!
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    W[j] = (W[j - 16]! + s0 + W[j - 7]! + s1) | 0
  }
  let a = IV[0]! | 0
  let b = IV[1]! | 0
  let c = IV[2]! | 0
  let d = IV[3]! | 0
  let e = IV[4]! | 0
  let f = IV[5]! | 0
  let g = IV[6]! | 0
  let k = IV[7]! | 0
  for (let j = 0; j < 64; j++) {
    const t1 = (k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[j]! + W[j]!) | 0
    const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    k = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  xorWord(into, 0, a + IV[0]!)
  xorWord(into, 4, b + IV[1]!)
  xorWord(into, 8, c + IV[2]!)
  xorWord(into, 12, d + IV[3]!)
}

/** XOR the big-endian bytes of 32-bit word `v` into `into[at…at+4)`. */
function xorWord(into: Uint8Array, at: number, v: number): void {
  into[at]! ^= v >>> 24
  into[at + 1]! ^= (v >>> 16) & 0xff
  into[at + 2]! ^= (v >>> 8) & 0xff
  into[at + 3]! ^= v & 0xff
}

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
    xorTerm(this.bytes, p, pageHash, offset)
  }

  /** The checksum as hex. */
  toHex(): string {
    return toHex(this.bytes)
  }
}
