import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareKeys } from '../../src/store/keys.js'

// Stores list keys in UTF-8 byte order, as S3 does; compareKeys (used by the local store, the S3
// test server and ranged listings) compares strings without encoding them: the order must be
// exactly that of their UTF-8 bytes.
describe('compareKeys', () => {
  it('is the order of the keys as UTF-8 bytes, for any well-formed text', () => {
    // 'binary' draws any code point, astral ones as surrogate pairs, never a lone surrogate.
    const key = fc.string({ unit: 'binary', maxLength: 8 })
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))))
      }),
      { numRuns: 5000 },
    )
  })

  it('puts a supplementary character after the top of the basic plane, where UTF-16 order would not', () => {
    expect(compareKeys('\u{1F600}', '\uFFFD')).toBeGreaterThan(0)
    expect(compareKeys('a\uE000', 'a\uD7FF')).toBeGreaterThan(0)
    expect(compareKeys('refs/a', 'refs/a/')).toBeLessThan(0)
    expect(compareKeys('same', 'same')).toBe(0)
  })
})
