import { hash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DatabaseChecksum, PAGE_HASH_BYTES } from '../../src/format/hash.js'
import type { PageNo } from '../../src/format/page.js'

/** A checksum term by its definition: the first 16 bytes of SHA-256(p as u32 BE ‖ hash), through node's SHA-256. */
function term(p: number, pageHash: Uint8Array): Uint8Array {
  const input = Buffer.alloc(4 + PAGE_HASH_BYTES)
  input.writeUInt32BE(p, 0)
  input.set(pageHash, 4)
  return hash('sha256', input, 'buffer').subarray(0, PAGE_HASH_BYTES)
}

describe('DatabaseChecksum', () => {
  it('XORs the SHA-256 term of each page, as node computes it, for any page number and hash', () => {
    const entry = fc.record({ p: fc.integer({ min: 1, max: 0xffffffff }), h: fc.uint8Array({ minLength: PAGE_HASH_BYTES, maxLength: PAGE_HASH_BYTES }) })
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (pages) => {
        const sum = new DatabaseChecksum()
        const expected = new Uint8Array(PAGE_HASH_BYTES)
        for (const { p, h } of pages) {
          // The hash handed in at an offset inside a larger buffer, as readers pass table columns.
          const table = new Uint8Array(3 * PAGE_HASH_BYTES)
          table.set(h, PAGE_HASH_BYTES)
          sum.toggle(p as PageNo, table, PAGE_HASH_BYTES)
          const t = term(p, h)
          for (let i = 0; i < PAGE_HASH_BYTES; i++) expected[i]! ^= t[i]!
        }
        expect(sum.toHex()).toBe(Buffer.from(expected).toString('hex'))
      }),
      { numRuns: 300 },
    )
  })

  it('a page toggled twice leaves the checksum as it was', () => {
    const h = new Uint8Array(PAGE_HASH_BYTES).fill(0xab)
    const sum = DatabaseChecksum.from(term(7, h))
    sum.toggle(7 as PageNo, h)
    expect(sum.toHex()).toBe('0'.repeat(2 * PAGE_HASH_BYTES))
  })
})
