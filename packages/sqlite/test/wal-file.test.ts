import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@strata/core/testing'
import { WalChecksum, readWal, readWalIndexHeader, type WalContent } from '../src/index.js'

const PAGE = 512

/** One frame to encode: a page number, a fill byte for its image, and the commit size (0: not a commit). */
type Frame = { page: number; fill: number; commit?: number }

/** Encode a WAL the way SQLite writes one, with cumulative checksums in the given byte order. */
function encodeWal(frames: Frame[], opts: { bigEndian?: boolean; salt1?: number; salt2?: number; pageSize?: number } = {}): Uint8Array {
  const size = opts.pageSize ?? PAGE
  const out = new Uint8Array(32 + frames.length * (24 + size))
  const v = new DataView(out.buffer)
  v.setUint32(0, opts.bigEndian ? 0x377f0683 : 0x377f0682)
  v.setUint32(4, 3007000)
  v.setUint32(8, size === 65536 ? 1 : size)
  v.setUint32(12, 7)
  v.setUint32(16, opts.salt1 ?? 0x11111111)
  v.setUint32(20, opts.salt2 ?? 0x22222222)
  const sum = new WalChecksum(opts.bigEndian ?? false)
  sum.update(out, 0, 24)
  v.setUint32(24, sum.s1)
  v.setUint32(28, sum.s2)
  frames.forEach((f, i) => {
    const o = 32 + i * (24 + size)
    v.setUint32(o, f.page)
    v.setUint32(o + 4, f.commit ?? 0)
    v.setUint32(o + 8, opts.salt1 ?? 0x11111111)
    v.setUint32(o + 12, opts.salt2 ?? 0x22222222)
    out.fill(f.fill, o + 24, o + 24 + size)
    out[o + 24] = f.page // distinct images even with equal fills
    sum.update(out, o, 8)
    sum.update(out, o + 24, size)
    v.setUint32(o + 16, sum.s1)
    v.setUint32(o + 20, sum.s2)
  })
  return out
}

/** The fill byte of each page's newest committed image, read back from the file. */
function fills(wal: WalContent, bytes: Uint8Array): Record<number, number> {
  const out: Record<number, number> = {}
  for (const [p, offset] of wal.pages) out[p] = bytes[offset + 1]!
  return out
}

let dir: TempDir
beforeAll(async () => {
  dir = await tempDir('strata-wal-file-')
})
afterAll(async () => dir.cleanup())

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir.path, name)
  writeFileSync(path, bytes)
  return path
}

const TWO_COMMITS: Frame[] = [
  { page: 2, fill: 1 },
  { page: 3, fill: 1, commit: 3 },
  { page: 2, fill: 2 },
  { page: 4, fill: 2, commit: 4 },
]

describe('readWal', () => {
  for (const bigEndian of [false, true]) {
    it(`reads the newest committed image of each page (${bigEndian ? 'big' : 'little'}-endian checksums)`, () => {
      const bytes = encodeWal([...TWO_COMMITS, { page: 3, fill: 9 }], { bigEndian })
      const path = write(`two-${bigEndian}.wal`, bytes)
      const wal = readWal(path, PAGE)
      if ('unreadable' in wal) throw new Error(wal.unreadable)
      expect(wal).toMatchObject({ committedFrames: 4, databasePages: 4, stop: 'end', header: { bigEndianChecksums: bigEndian, pageSize: PAGE, checkpointSequence: 7 } })
      // Page 3's image in the trailing frame belongs to no commit.
      expect(fills(wal, bytes)).toEqual({ 2: 2, 3: 1, 4: 2 })
    })
  }

  it('stops at a torn frame, a flipped byte or another generation, keeping the commits before it', () => {
    const good = encodeWal(TWO_COMMITS)
    const frame = 24 + PAGE
    const cases: [string, Uint8Array, WalContent['stop']][] = [
      ['torn', good.slice(0, 32 + 3 * frame + 100), 'torn'],
      ['flipped', (() => { const b = good.slice(); b[32 + 3 * frame + 24 + 7]! ^= 1; return b })(), 'checksum'],
      ['other salt', (() => { const b = good.slice(); b[32 + 2 * frame + 8]! ^= 1; return b })(), 'salt'],
    ]
    for (const [name, bytes, stop] of cases) {
      const path = write(`${name}.wal`, bytes)
      const wal = readWal(path, PAGE)
      if ('unreadable' in wal) throw new Error(wal.unreadable)
      expect(wal, name).toMatchObject({ committedFrames: 2, databasePages: 3, stop })
      expect(fills(wal, bytes), name).toEqual({ 2: 1, 3: 1 })
    }
  })

  it('a frame after a damaged one does not count, even if it is valid on its own', () => {
    // Frames of an older generation can follow the current ones; the chain of checksums ends at the first bad frame.
    const bytes = encodeWal([...TWO_COMMITS, { page: 5, fill: 3, commit: 5 }])
    const frame = 24 + PAGE
    bytes[32 + 2 * frame + 24 + 9]! ^= 0xff
    const wal = readWal(write('after-damage.wal', bytes), PAGE)
    expect(wal).toMatchObject({ committedFrames: 2, databasePages: 3, stop: 'checksum' })
  })

  it('leaves out pages past the size recorded by the last commit (the database shrank)', () => {
    const bytes = encodeWal([{ page: 5, fill: 1, commit: 5 }, { page: 2, fill: 2, commit: 3 }])
    const wal = readWal(write('shrink.wal', bytes), PAGE)
    if ('unreadable' in wal) throw new Error(wal.unreadable)
    expect(wal.databasePages).toBe(3)
    expect([...wal.pages.keys()]).toEqual([2])
  })

  it('treats an empty WAL as no frames, and refuses a missing file, a bad header or another page size', () => {
    expect(readWal(write('empty.wal', new Uint8Array(0)), PAGE)).toMatchObject({ header: null, committedFrames: 0, databasePages: 0 })
    expect(readWal(join(dir.path, 'missing.wal'), PAGE)).toEqual({ unreadable: 'the WAL file is missing' })
    const good = encodeWal(TWO_COMMITS)
    const badMagic = good.slice()
    badMagic[3] = 0x80
    expect(readWal(write('magic.wal', badMagic), PAGE)).toHaveProperty('unreadable', expect.stringContaining('magic'))
    const badSum = good.slice()
    badSum[13]! ^= 1 // checkpoint sequence, covered by the header checksum
    expect(readWal(write('sum.wal', badSum), PAGE)).toHaveProperty('unreadable', expect.stringContaining('checksum'))
    expect(readWal(write('short.wal', good.slice(0, 20)), PAGE)).toHaveProperty('unreadable', expect.stringContaining('shorter'))
    expect(readWal(write('size.wal', good), 1024)).toHaveProperty('unreadable', expect.stringContaining('512-byte pages'))
  })

  it('reads 64 KiB pages (stored as 1 in the header)', () => {
    const wal = readWal(write('big.wal', encodeWal([{ page: 1, fill: 4, commit: 1 }], { pageSize: 65536 })), 65536)
    expect(wal).toMatchObject({ committedFrames: 1, header: { pageSize: 65536 } })
  })
})

describe('readWalIndexHeader', () => {
  it('reads a consistent header and refuses a missing, torn or uninitialised one', () => {
    const shm = new Uint8Array(32768)
    const v = new DataView(shm.buffer)
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
    v.setUint32(0, 3007000, le)
    v.setUint32(8, 5, le)
    shm[12] = 1
    v.setUint32(16, 9, le)
    v.setUint32(20, 40, le)
    v.setUint32(32, 0xaabbccdd)
    v.setUint32(36, 0x01020304)
    shm.copyWithin(48, 0, 48)
    expect(readWalIndexHeader(write('ok-shm', shm))).toEqual({ change: 5, maxFrame: 9, databasePages: 40, salt1: 0xaabbccdd, salt2: 0x01020304 })
    const torn = shm.slice()
    torn[48 + 16]! ^= 1
    expect(readWalIndexHeader(write('torn-shm', torn))).toBeNull()
    const uninit = shm.slice()
    uninit[12] = 0
    uninit[60] = 0
    expect(readWalIndexHeader(write('uninit-shm', uninit))).toBeNull()
    expect(readWalIndexHeader(join(dir.path, 'missing-shm'))).toBeNull()
  })
})
