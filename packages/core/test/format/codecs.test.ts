import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { isStrataError } from '../../src/errors/index.js'
import { decodeBaseStoreRecord, encodeBaseStoreRecord, type BaseStoreRecord } from '../../src/format/base-store-record.js'
import { decodeBranchRecord, encodeBranchRecord, type BranchRecord } from '../../src/format/branch-record.js'
import { PAGE_HASH_BYTES } from '../../src/format/hash.js'
import { decodeHoldRecord, encodeHoldRecord, type HoldRecord } from '../../src/format/hold-record.js'
import type { BranchId, SegmentId, SnapshotId } from '../../src/format/ids.js'
import { decodeManifest, encodeManifest, manifestId, type SnapshotManifest } from '../../src/format/manifest.js'
import { buildPageTable, type PageEntry } from '../../src/format/page-table.js'
import type { PageNo, PageSize } from '../../src/format/page.js'
import { decodePinRecord, encodePinRecord, type PinRecord } from '../../src/format/pin-record.js'
import { decodeRef, encodeRef, type ReadHint, type Ref } from '../../src/format/ref.js'
import { decodeStoreMarker, encodeStoreMarker } from '../../src/format/store-marker.js'
import { decodeTagRecord, encodeTagRecord, type TagRecord } from '../../src/format/tag-record.js'
import { FORMAT_VERSION } from '../../src/format/version.js'

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })
const snapshotId = hex(32) as fc.Arbitrary<SnapshotId>
const segmentId = hex(64) as fc.Arbitrary<SegmentId>
const branchId = fc.uuid() as fc.Arbitrary<BranchId>
const iso = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString())
const text = fc.string({ maxLength: 40 })
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true, variableMapSize: true })

/** Re-encode `bytes` after `edit` changes the decoded map: a record written by a damaged or hostile writer. */
function tampered(bytes: Uint8Array, edit: (m: Record<string, unknown>) => void): Uint8Array {
  const m = packr.unpack(bytes) as Record<string, unknown>
  edit(m)
  return packr.pack(m)
}

function expectCode(action: () => unknown, code: string): void {
  let error: unknown = null
  try {
    action()
  } catch (e) {
    error = e
  }
  expect(isStrataError(error), String(error)).toBe(true)
  expect((error as { code: string }).code).toBe(code)
}

/** Rejections every codec shares: not MessagePack, not a map, another kind, a future major version. */
function commonRejections(name: string, encoded: Uint8Array, decode: (bytes: Uint8Array) => unknown): void {
  describe(`${name}: shared rejections`, () => {
    it('refuses truncated bytes and non-maps as corrupt', () => {
      expectCode(() => decode(encoded.subarray(0, Math.max(1, encoded.byteLength - 3))), 'STRATA_CORRUPT_OBJECT')
      expectCode(() => decode(packr.pack([1, 2, 3])), 'STRATA_CORRUPT_OBJECT')
    })
    it('refuses an object of another kind as corrupt', () => {
      expectCode(() => decode(tampered(encoded, (m) => void (m.strata = m.strata === 'tag' ? 'ref' : 'tag'))), 'STRATA_CORRUPT_OBJECT')
    })
    it('refuses a missing version as corrupt and a future major version as unsupported', () => {
      expectCode(() => decode(tampered(encoded, (m) => void delete m.v)), 'STRATA_CORRUPT_OBJECT')
      expectCode(() => decode(tampered(encoded, (m) => void (m.v = [FORMAT_VERSION[0] + 1, 0]))), 'STRATA_UNSUPPORTED_FORMAT')
    })
  })
}

const hintArb: fc.Arbitrary<ReadHint> = fc.record({
  snapshot: snapshotId,
  fallbacks: fc.array(snapshotId, { maxLength: 16 }),
  runs: fc.array(fc.record({ segment: segmentId, offset: fc.nat(), length: fc.integer({ min: 1, max: 1 << 20 }), first: fc.integer({ min: 1, max: 1000 }) as fc.Arbitrary<PageNo> }), { minLength: 0, maxLength: 4 }),
})
const refArb: fc.Arbitrary<Ref> = fc
  .record({
    name: text,
    branchId,
    head: snapshotId,
    base: snapshotId,
    updatedAt: iso,
    expiresAt: fc.option(iso, { nil: null }),
    movedTo: fc.option(text, { nil: undefined }),
    readHint: fc.option(hintArb, { nil: undefined }),
  })
  .map(({ movedTo, readHint, ...r }) => ({ ...r, ...(movedTo === undefined ? {} : { movedTo }), ...(readHint === undefined ? {} : { readHint }) }))
const branchArb: fc.Arbitrary<BranchRecord> = fc.record({ id: branchId, name: text, createdAt: iso, source: fc.option(snapshotId, { nil: null }), sourceBranch: fc.option(text, { nil: null }) })
const tagArb: fc.Arbitrary<TagRecord> = fc.record({ name: text, snapshot: snapshotId, createdAt: iso, message: text })
const holdArb: fc.Arbitrary<HoldRecord> = fc.oneof(
  fc.record({ target: fc.constant('snapshot' as const), snapshot: snapshotId, createdAt: iso, reason: text }),
  fc.record({ target: fc.constant('branch' as const), branch: text, createdAt: iso, reason: text }),
)
const pinArb: fc.Arbitrary<PinRecord> = fc.record({ snapshot: snapshotId, dependentStore: fc.record({ url: fc.webUrl(), id: fc.uuid() }), createdAt: iso })

describe('record codecs round-trip', () => {
  it('refs', () => fc.assert(fc.property(refArb, (r) => void expect(decodeRef('refs/x', encodeRef(r))).toEqual(r))))
  it('branch records', () => fc.assert(fc.property(branchArb, (b) => void expect(decodeBranchRecord('branches/x', encodeBranchRecord(b))).toEqual(b))))
  it('tag records', () => fc.assert(fc.property(tagArb, (t) => void expect(decodeTagRecord('tags/x', encodeTagRecord(t))).toEqual(t))))
  it('hold records', () => fc.assert(fc.property(holdArb, (h) => void expect(decodeHoldRecord('holds/x', encodeHoldRecord(h))).toEqual(h))))
  it('pin records', () => fc.assert(fc.property(pinArb, (p) => void expect(decodePinRecord('pins/x', encodePinRecord(p))).toEqual(p))))
  it('base-store records and the store marker', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.webUrl(), iso, iso, (storeId, url, createdAt, updatedAt) => {
        expect(decodeStoreMarker(encodeStoreMarker({ storeId, createdAt }))).toEqual({ formatVersion: FORMAT_VERSION, storeId, createdAt })
        const record: BaseStoreRecord = { storeId, url, createdAt, updatedAt }
        expect(decodeBaseStoreRecord('bases/x', encodeBaseStoreRecord(record))).toEqual(record)
      }),
    )
  })
})

describe('record codecs reject malformed fields', () => {
  const ref = fc.sample(refArb, 1)[0]!
  commonRejections('ref', encodeRef(ref), (b) => decodeRef('refs/x', b))
  commonRejections('tag', encodeTagRecord(fc.sample(tagArb, 1)[0]!), (b) => decodeTagRecord('tags/x', b))
  commonRejections('pin', encodePinRecord(fc.sample(pinArb, 1)[0]!), (b) => decodePinRecord('pins/x', b))

  it('a ref whose head or base is not a snapshot id', () => {
    expectCode(() => decodeRef('refs/x', tampered(encodeRef(ref), (m) => void (m.head = 'main'))), 'STRATA_CORRUPT_OBJECT')
    expectCode(() => decodeRef('refs/x', tampered(encodeRef(ref), (m) => void (m.base = 42))), 'STRATA_CORRUPT_OBJECT')
    expectCode(() => decodeRef('refs/x', tampered(encodeRef(ref), (m) => void delete m.name)), 'STRATA_CORRUPT_OBJECT')
  })
  it('a ref with a malformed read hint reads as a ref without one (a hint is never a reason to refuse a ref)', () => {
    const { readHint: _, ...plain } = ref
    const hint = { snapshot: 'a'.repeat(32), fallbacks: ['c'.repeat(32)], runs: [['b'.repeat(64), 0, 4096, 1]] }
    expect(decodeRef('refs/x', tampered(encodeRef(plain), (m) => void (m.readHint = hint))).readHint).toEqual({
      snapshot: hint.snapshot,
      fallbacks: hint.fallbacks,
      runs: [{ segment: 'b'.repeat(64), offset: 0, length: 4096, first: 1 }],
    })
    const broken: unknown[] = [
      'text',
      [hint],
      { ...hint, snapshot: 'main' },
      { ...hint, fallbacks: undefined },
      { ...hint, fallbacks: ['main'] },
      { ...hint, fallbacks: Array.from({ length: 17 }, () => 'c'.repeat(32)) },
      { ...hint, runs: 'all' },
      { ...hint, runs: [['b'.repeat(64), 0, 4096]] },
      { ...hint, runs: [['b'.repeat(63), 0, 4096, 1]] },
      { ...hint, runs: [['b'.repeat(64), -1, 4096, 1]] },
      { ...hint, runs: [['b'.repeat(64), 0, 0, 1]] },
      { ...hint, runs: [['b'.repeat(64), 0, 4096, 0]] },
      { ...hint, runs: [['b'.repeat(64), 0.5, 4096, 1]] },
    ]
    for (const readHint of broken) expect(decodeRef('refs/x', tampered(encodeRef(plain), (m) => void (m.readHint = readHint)))).toEqual(plain)
  })
  it('a ref with a field this version does not know reads as the ref it was (how older readers of format 2 read a read hint)', () => {
    const { readHint: _, ...plain } = ref
    expect(decodeRef('refs/x', tampered(encodeRef(plain), (m) => void (m.laterField = { runs: [[1, 2, 3]] })))).toEqual(plain)
  })
  it('a hold with an unknown target, a pin without its dependent store, a tag on a non-snapshot', () => {
    const hold = encodeHoldRecord({ target: 'branch', branch: 'b', createdAt: '2026-01-01T00:00:00.000Z', reason: '' })
    expectCode(() => decodeHoldRecord('holds/x', tampered(hold, (m) => void (m.target = 'store'))), 'STRATA_CORRUPT_OBJECT')
    const pin = encodePinRecord(fc.sample(pinArb, 1)[0]!)
    expectCode(() => decodePinRecord('pins/x', tampered(pin, (m) => void (m.dependentStore = { url: 1 }))), 'STRATA_CORRUPT_OBJECT')
    const tag = encodeTagRecord(fc.sample(tagArb, 1)[0]!)
    expectCode(() => decodeTagRecord('tags/x', tampered(tag, (m) => void (m.snapshot = 'zz'))), 'STRATA_CORRUPT_OBJECT')
  })
})

/** A valid manifest: pages ascending in 1…pageCount, each in a slot of a segment long enough for it. */
const manifestArb = fc
  .record({
    pageSize: fc.constantFrom(512, 1024, 4096, 65536) as fc.Arbitrary<PageSize>,
    pageCount: fc.integer({ min: 1, max: 200 }),
    pages: fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 30 }),
    segmentIds: fc.uniqueArray(segmentId, { minLength: 1, maxLength: 3 }),
    fallback: fc.option(fc.record({ snapshot: snapshotId, store: fc.option(fc.record({ url: fc.webUrl(), id: fc.uuid() }), { nil: undefined }) }), { nil: null }),
    parent: fc.option(snapshotId, { nil: null }),
    branchId: fc.option(branchId, { nil: null }),
    branchName: fc.option(text, { nil: null }),
    message: text,
    author: text,
    createdAt: iso,
    tags: fc.array(text, { maxLength: 3 }),
    operation: fc.constantFrom('commit', 'import', 'materialize', 'reset'),
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map((a): Omit<SnapshotManifest, 'formatVersion'> => {
    const pageNos = a.pages.filter((p) => p <= a.pageCount).sort((x, y) => x - y)
    const slots = new Map<number, number>()
    const entries: PageEntry[] = pageNos.map((p, i) => {
      const segment = i % a.segmentIds.length
      const slot = slots.get(segment) ?? 0
      slots.set(segment, slot + 1)
      return { pageNo: p as PageNo, segment, slot, hash: new Uint8Array(PAGE_HASH_BYTES).fill((a.seed + i) & 0xff) }
    })
    const fallback = a.fallback === null ? null : a.fallback.store === undefined ? { snapshot: a.fallback.snapshot } : { snapshot: a.fallback.snapshot, store: a.fallback.store }
    return {
      pageSize: a.pageSize,
      pageCount: a.pageCount as SnapshotManifest['pageCount'],
      fallback,
      branchId: a.branchId,
      branchName: a.branchName,
      parent: a.parent,
      message: a.message,
      author: a.author,
      createdAt: a.createdAt,
      tags: a.tags,
      operation: a.operation,
      checksum: new Uint8Array(PAGE_HASH_BYTES).fill(a.seed),
      segments: a.segmentIds.map((id, s) => ({ id, length: Math.max(1, slots.get(s) ?? 0) * a.pageSize })),
      pages: buildPageTable(entries),
    }
  })

describe('manifest codec', () => {
  it('round-trips every valid manifest, and its id is the hash of its bytes', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const { id, bytes } = encodeManifest(m)
        expect(id).toBe(manifestId(bytes))
        expect(decodeManifest(id, bytes)).toEqual({ ...m, formatVersion: FORMAT_VERSION })
      }),
    )
  })

  it('records a merge commit\'s second parent and base; any other manifest has no merge field and keeps its bytes', () => {
    fc.assert(
      fc.property(manifestArb, snapshotId, fc.option(fc.string({ maxLength: 12 }), { nil: null }), snapshotId, (m, source, sourceBranch, base) => {
        const merged = { ...m, operation: 'merge', merge: { source, sourceBranch, base } }
        const { id, bytes } = encodeManifest(merged)
        expect(decodeManifest(id, bytes)).toEqual({ ...merged, formatVersion: FORMAT_VERSION })
        const plain = encodeManifest(m)
        expect(packr.unpack(plain.bytes)).not.toHaveProperty('merge')
        expect(decodeManifest(plain.id, plain.bytes)).not.toHaveProperty('merge')
      }),
      { numRuns: 50 },
    )
  })

  it('refuses bytes that do not hash to the id', () => {
    const { id, bytes } = encodeManifest(fc.sample(manifestArb, 1)[0]!)
    const flipped = bytes.slice()
    flipped[flipped.length - 1]! ^= 1
    expectCode(() => decodeManifest(id, flipped), 'STRATA_CORRUPT_OBJECT')
  })

  it('refuses a broken invariant even under a matching id', () => {
    const m = fc.sample(manifestArb.filter((x) => x.pages.pageNos.length >= 2), 1)[0]!
    const { bytes } = encodeManifest(m)
    const reencoded = (edit: (o: Record<string, unknown>) => void): [SnapshotId, Uint8Array] => {
      const b = tampered(bytes, edit)
      return [manifestId(b), b]
    }
    const cases: [string, (o: Record<string, unknown>) => void][] = [
      ['a page size that is not a power of two', (o) => void (o.pageSize = 3000)],
      ['a page past the page count', (o) => void (o.pageCount = 1)],
      ['a fallback that is not a snapshot id', (o) => void (o.fallback = { snapshot: 'nope' })],
      ['a segment entry that is not [id, length]', (o) => void (o.segments = [['x', 1]])],
      ['columns of different lengths', (o) => void (o.pageHashes = new Uint8Array(PAGE_HASH_BYTES))],
      ['a parent that is not a snapshot id', (o) => void (o.parent = 'HEAD')],
      ['a merge whose source is not a snapshot id', (o) => void (o.merge = { source: 'feature', sourceBranch: null, base: m.checksum })],
      ['a merge whose source branch is not a string', (o) => void (o.merge = { source: 'a'.repeat(32), sourceBranch: 7, base: 'b'.repeat(32) })],
    ]
    for (const [, edit] of cases) {
      const [id, b] = reencoded(edit)
      expectCode(() => decodeManifest(id, b), 'STRATA_CORRUPT_OBJECT')
    }
  })
})
