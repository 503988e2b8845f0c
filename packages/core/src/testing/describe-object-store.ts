import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { isStrataError } from '../errors/index.js'
import type { ErrorCode } from '../errors/index.js'
import type { ObjectInfo, ObjectStore, PutOptions } from '../store/object-store.js'
import { StoreWorkers } from './store-workers.js'
import type { WorkerReply } from './store-workers.js'

/** A fresh, empty store for one conformance test, and how other processes reach it. */
export interface StoreFixture {
  /** The store under test. Empty when handed out. */
  store: ObjectStore
  /** Remove everything the test stored and release the store (the suite never calls `close`). */
  cleanup(): Promise<void>
  /**
   * How a child process opens the same store: `module` is an absolute path to a module (TS or
   * JS) exporting `openStore(arg): Promise<ObjectStore>`; `arg` must survive JSON.
   */
  child: { module: string; arg: unknown }
}

/** Workers in the multi-process tests. */
const PROCESSES = 4

/**
 * Register the `ObjectStore` conformance suite (vitest) for one store implementation. Every
 * test gets its own fixture from `makeFixture` and cleans it up afterwards. The multi-process
 * tests spawn {@link PROCESSES} node processes that open the store through `fixture.child`.
 *
 * Keys in the suite never make one key a directory-style prefix of another (`a` and `a/b`),
 * which directory-backed stores cannot hold.
 */
export function describeObjectStore(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let fixture: StoreFixture | undefined
    let store: ObjectStore

    beforeEach(async () => {
      fixture = await makeFixture()
      store = fixture.store
    })

    afterEach(async () => {
      const done = fixture
      fixture = undefined
      await done?.cleanup()
    })

    describe('get and put', () => {
      it('returns null for a missing key', async () => {
        expect(await store.get('missing')).toBeNull()
        expect(await store.get('no/such/dir/key')).toBeNull()
        expect(await store.head('missing')).toBeNull()
      })

      it.each([
        ['an empty object', 0],
        ['one byte', 1],
        ['several MiB', 5 * 1024 * 1024 + 17],
      ])('round-trips %s', async (_, size) => {
        const body = pattern(size, size + 1)
        const { version } = await store.put('objects/round-trip', body)
        const got = await store.get('objects/round-trip')
        expect(got).not.toBeNull()
        expect(got!.body).toBeInstanceOf(Uint8Array)
        expect(got!.size).toBe(size)
        expect(got!.version).toBe(version)
        expect(sameBytes(got!.body, body)).toBe(true)
      })

      it('keeps its own copy of the bytes it was given', async () => {
        const body = text('original')
        await store.put('copy', body)
        body.fill(0)
        expect(str((await store.get('copy'))!.body)).toBe('original')
      })

      it('replaces an object with an unconditional put', async () => {
        const first = await store.put('k', text('one'))
        const second = await store.put('k', text('two, longer'))
        expect(second.version).not.toBe(first.version)
        const got = await store.get('k')
        expect(str(got!.body)).toBe('two, longer')
        expect(got!.version).toBe(second.version)
      })

      it('keeps keys that share a textual prefix apart', async () => {
        await store.put('x', text('x'))
        await store.put('x2', text('x2'))
        await store.put('y/x', text('y/x'))
        expect(str((await store.get('x'))!.body)).toBe('x')
        expect(str((await store.get('x2'))!.body)).toBe('x2')
        expect(str((await store.get('y/x'))!.body)).toBe('y/x')
      })

      it('reads byte ranges and reports the whole size', async () => {
        const body = pattern(100, 7)
        const { version } = await store.put('ranged', body)
        const cases: [number, number, number, number][] = [
          // offset, length, expected start, expected end
          [0, 10, 0, 10],
          [40, 20, 40, 60],
          [90, 50, 90, 100],
          [0, 100, 0, 100],
          [99, 1, 99, 100],
          [100, 10, 100, 100],
          [150, 10, 100, 100],
        ]
        for (const [offset, length, start, end] of cases) {
          const got = await store.get('ranged', { range: { offset, length } })
          expect(got, `range ${offset}+${length}`).not.toBeNull()
          expect(got!.size, `size for range ${offset}+${length}`).toBe(100)
          expect(got!.version).toBe(version)
          expect(Array.from(got!.body), `bytes for range ${offset}+${length}`).toEqual(Array.from(body.subarray(start, end)))
        }
      })

      it('reads a range of an empty object as empty and of a missing one as null', async () => {
        await store.put('empty', new Uint8Array(0))
        const got = await store.get('empty', { range: { offset: 0, length: 10 } })
        expect(got!.body.length).toBe(0)
        expect(got!.size).toBe(0)
        expect(await store.get('missing', { range: { offset: 0, length: 10 } })).toBeNull()
      })

      it('reports size, version and modification time in head', async () => {
        const before = Date.now()
        const { version } = await store.put('dir/headed', pattern(1234, 3))
        const after = Date.now()
        const info = await store.head('dir/headed')
        expect(info).not.toBeNull()
        expect(info!.key).toBe('dir/headed')
        expect(info!.size).toBe(1234)
        expect(info!.version).toBe(version)
        expect(info!.lastModified).toBeInstanceOf(Date)
        // Stores may round to the second or stamp a little early; allow for both.
        expect(info!.lastModified.getTime()).toBeGreaterThanOrEqual(before - 2000)
        expect(info!.lastModified.getTime()).toBeLessThanOrEqual(after + 1000)
      })

      it('gives every put of new bytes a new version, even at the same size', async () => {
        const versions: string[] = []
        for (let i = 0; i < 6; i++) {
          const { version } = await store.put('versioned', text(`value-${i}`))
          expect((await store.head('versioned'))!.version).toBe(version)
          expect((await store.get('versioned'))!.version).toBe(version)
          versions.push(version)
        }
        expect(new Set(versions).size).toBe(versions.length)
      })
    })

    describe('conditional put', () => {
      it('refuses malformed conditions before writing anything', async () => {
        const { version } = await store.put('opts/key', text('kept'))
        const bad: PutOptions[] = [
          { ifMatch: '' },
          { ifNoneMatch: '*', ifMatch: version },
          { ifNoneMatch: 'x' as '*' },
        ]
        for (const opts of bad) {
          await expectCode(() => store.put('opts/key', text('over'), opts), 'STRATA_INVALID_ARGUMENT')
          await expectCode(() => store.put('opts/new', text('new'), opts), 'STRATA_INVALID_ARGUMENT')
        }
        const got = await store.get('opts/key')
        expect(str(got!.body)).toBe('kept')
        expect(got!.version).toBe(version)
        expect(await store.head('opts/new')).toBeNull()
      })

      it('creates with ifNoneMatch only when the key is missing', async () => {
        const { version } = await store.put('once', text('first'), { ifNoneMatch: '*' })
        await expectCode(store.put('once', text('second'), { ifNoneMatch: '*' }), 'STRATA_CONFLICT')
        const got = await store.get('once')
        expect(str(got!.body)).toBe('first')
        expect(got!.version).toBe(version)
      })

      it('takes a create-only put of the bytes already stored as success, and of other bytes (even of the same size) as a conflict', async () => {
        const body = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 10)) & 0xff)
        const { version } = await store.put('idem', body, { ifNoneMatch: '*' })
        expect(await store.put('idem', body.slice(), { ifNoneMatch: '*' })).toEqual({ version })
        const flipped = body.slice()
        flipped[150_000] = flipped[150_000]! ^ 1
        await expectCode(store.put('idem', flipped, { ifNoneMatch: '*' }), 'STRATA_CONFLICT')
        await expectCode(store.put('idem', body.subarray(1), { ifNoneMatch: '*' }), 'STRATA_CONFLICT')
        const got = await store.get('idem')
        expect(Buffer.from(got!.body).equals(body)).toBe(true)
        expect(got!.version).toBe(version)
      })

      it('replaces with ifMatch only the current version', async () => {
        const v1 = (await store.put('cas', text('one'))).version
        const v2 = (await store.put('cas', text('two'), { ifMatch: v1 })).version
        expect(v2).not.toBe(v1)
        expect(str((await store.get('cas'))!.body)).toBe('two')

        await expectCode(store.put('cas', text('stale'), { ifMatch: v1 }), 'STRATA_CONFLICT')
        const got = await store.get('cas')
        expect(str(got!.body)).toBe('two')
        expect(got!.version).toBe(v2)

        const v3 = (await store.put('cas', text('three'), { ifMatch: v2 })).version
        expect((await store.head('cas'))!.version).toBe(v3)
      })

      it('fails ifMatch on a missing key and creates nothing', async () => {
        const v = (await store.put('other', text('x'))).version
        await expectCode(store.put('missing', text('y'), { ifMatch: v }), 'STRATA_CONFLICT')
        expect(await store.head('missing')).toBeNull()
      })

      it('fails ifMatch after the key was deleted', async () => {
        const v = (await store.put('gone', text('x'))).version
        await store.delete(['gone'])
        await expectCode(store.put('gone', text('y'), { ifMatch: v }), 'STRATA_CONFLICT')
        expect(await store.head('gone')).toBeNull()
      })

      it('lets exactly one of many concurrent create-only puts win', async () => {
        const bodies = Array.from({ length: 16 }, (_, i) => text(`contender ${i} `.repeat(i + 1)))
        const results = await Promise.allSettled(bodies.map((b) => store.put('race/create', b, { ifNoneMatch: '*' })))
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, version: r.value.version }] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (r.status === 'rejected') expect(codeOf(r.reason)).toBe('STRATA_CONFLICT')
        const got = await store.get('race/create')
        expect(str(got!.body)).toBe(str(bodies[winners[0]!.i]!))
        expect(got!.version).toBe(winners[0]!.version)
      })

      it('lets exactly one of many concurrent ifMatch puts from one version win', async () => {
        const { version } = await store.put('race/cas', text('base'))
        const bodies = Array.from({ length: 8 }, (_, i) => text(`writer ${i}`))
        const results = await Promise.allSettled(bodies.map((b) => store.put('race/cas', b, { ifMatch: version })))
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (r.status === 'rejected') expect(codeOf(r.reason)).toBe('STRATA_CONFLICT')
        expect(str((await store.get('race/cas'))!.body)).toBe(`writer ${winners[0]}`)
      })
    })

    describe('list', () => {
      // Byte order puts '-' (0x2d) and '.' (0x2e) before '/' (0x2f): a directory-backed store
      // must not simply list directory `a` before file `a-b`.
      const KEYS = ['ac', 'a/c/d', 'b', 'abc/x', 'a.b', 'ab/y', 'a/b', 'a-b']
      const SORTED = ['a-b', 'a.b', 'a/b', 'a/c/d', 'ab/y', 'abc/x', 'ac', 'b']

      beforeEach(async () => {
        for (const key of KEYS) await store.put(key, text(`value of ${key}`))
      })

      it('lists everything in ascending byte order', async () => {
        expect(await keysOf(store, '')).toEqual(SORTED)
      })

      it('filters by prefix, including a prefix that ends mid-segment', async () => {
        expect(await keysOf(store, 'a/')).toEqual(['a/b', 'a/c/d'])
        expect(await keysOf(store, 'ab')).toEqual(['ab/y', 'abc/x'])
        expect(await keysOf(store, 'a')).toEqual(SORTED.filter((k) => k.startsWith('a')))
        expect(await keysOf(store, 'a/c')).toEqual(['a/c/d'])
        expect(await keysOf(store, 'a/c/')).toEqual(['a/c/d'])
        expect(await keysOf(store, 'a/c/d')).toEqual(['a/c/d'])
        expect(await keysOf(store, 'ac')).toEqual(['ac'])
        expect(await keysOf(store, 'zzz')).toEqual([])
        expect(await keysOf(store, 'no/such/dir/')).toEqual([])
      })

      it('reports size and version of each object', async () => {
        for (const info of await collect(store.list(''))) {
          expect(info.size).toBe(text(`value of ${info.key}`).length)
          const head = await store.head(info.key)
          expect(info.version).toBe(head!.version)
          expect(info.lastModified).toBeInstanceOf(Date)
        }
      })

      it('lists more than 1000 objects, in order, under a prefix, from any start key', async () => {
        const count = 1100
        const keys = Array.from({ length: count }, (_, i) => `many/${String(i).padStart(5, '0')}`)
        await inBatches(keys, 16, (key) => store.put(key, text(key)))
        await store.put('many-not/x', text('decoy'))
        const listed = await keysOf(store, 'many/')
        expect(listed).toHaveLength(count)
        expect(listed).toEqual(keys)
        // Starting after a key, the listing still runs over page boundaries to the end of the prefix.
        expect(await keysOf(store, 'many/', 'many/00099')).toEqual(keys.slice(100))
        expect(await keysOf(store, 'many/', 'many/01050')).toEqual(keys.slice(1051))
        expect(await keysOf(store, 'many/', 'many/00099x')).toEqual(keys.slice(100))
      }, 120_000)

      describe('after a start key', () => {
        it('lists only keys after an existing key, under the prefix', async () => {
          expect(await keysOf(store, '', 'a.b')).toEqual(SORTED.slice(SORTED.indexOf('a.b') + 1))
          expect(await keysOf(store, 'a/', 'a/b')).toEqual(['a/c/d'])
          expect(await keysOf(store, '', 'ac')).toEqual(['b'])
          expect(await keysOf(store, '', '')).toEqual(SORTED)
        })

        it('starts after a key that does not exist, wherever it falls', async () => {
          expect(await keysOf(store, '', 'a/bb')).toEqual(['a/c/d', 'ab/y', 'abc/x', 'ac', 'b'])
          // A start key naming a directory-style prefix, or ending in '/', lists what lies under it.
          expect(await keysOf(store, 'a/', 'a/c')).toEqual(['a/c/d'])
          expect(await keysOf(store, '', 'a/')).toEqual(['a/b', 'a/c/d', 'ab/y', 'abc/x', 'ac', 'b'])
          expect(await keysOf(store, '', 'a/c/d/')).toEqual(['ab/y', 'abc/x', 'ac', 'b'])
          // Before the prefix: the whole prefix.
          expect(await keysOf(store, 'ab', 'a')).toEqual(['ab/y', 'abc/x'])
          expect(await keysOf(store, 'a/', '0')).toEqual(['a/b', 'a/c/d'])
        })

        it('lists nothing after the last key, or past the end of the prefix', async () => {
          expect(await keysOf(store, '', 'b')).toEqual([])
          expect(await keysOf(store, '', 'zzz')).toEqual([])
          expect(await keysOf(store, 'a', 'b')).toEqual([])
          expect(await keysOf(store, 'a/', 'a/c/d')).toEqual([])
          expect(await keysOf(store, 'no/such/dir/', 'a')).toEqual([])
        })

        it('compares in UTF-8 byte order, with start keys and percent-encoded keys that are not ASCII', async () => {
          // Keys are ASCII; other text reaches them percent-encoded as UTF-8, which keeps its byte
          // order. U+00E9, U+FB00 and U+1F600 sort so as UTF-8 (UTF-16 would put U+1F600 first).
          const names = ['\u{1F600}', '\u00e9', '\uFB00', 'z']
          const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
          expect(byBytes).toEqual(['z', '\u00e9', '\uFB00', '\u{1F600}'])
          const keyOf = (n: string): string => `n/${encodeURIComponent(n)}`
          for (const n of names) await store.put(keyOf(n), text(n))
          expect(await keysOf(store, 'n/')).toEqual(byBytes.map(keyOf).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
          expect(await keysOf(store, 'n/', keyOf('\u00e9'))).toEqual([keyOf('\uFB00'), keyOf('\u{1F600}'), 'n/z'])
          expect(await keysOf(store, 'n/', keyOf('\uFB00'))).toEqual([keyOf('\u{1F600}'), 'n/z'])
          // A start key that is not ASCII sorts after every ASCII key sharing what precedes it.
          expect(await keysOf(store, '', 'a\u00e9')).toEqual(['b', ...names.map(keyOf).sort()])
          expect(await keysOf(store, '', 'a/\u{1F600}')).toEqual(['ab/y', 'abc/x', 'ac', 'b', ...names.map(keyOf).sort()])
          expect(await keysOf(store, 'n/', 'n/\uFB00')).toEqual([])
        })

        it('lets the caller stop part way through', async () => {
          const seen: string[] = []
          for await (const info of store.list('', { startAfter: 'a/b' })) {
            seen.push(info.key)
            if (seen.length === 2) break
          }
          expect(seen).toEqual(['a/c/d', 'ab/y'])
        })
      })
    })

    describe('delete', () => {
      it('deletes many keys, ignoring missing ones, and is idempotent', async () => {
        for (const key of ['a', 'b/c', 'b/d', 'b/e/f', 'e']) await store.put(key, text(key))
        await store.delete(['a', 'b/c', 'missing', 'b/e/f', 'no/such/dir'])
        expect(await keysOf(store, '')).toEqual(['b/d', 'e'])
        expect(await store.get('a')).toBeNull()
        await store.delete(['a', 'b/c'])
        await store.delete([])
        expect(await keysOf(store, '')).toEqual(['b/d', 'e'])
      })

      it('lets a key be written again where everything was deleted', async () => {
        await store.put('d/e/f', text('1'))
        await store.delete(['d/e/f'])
        expect(await keysOf(store, '')).toEqual([])
        await store.put('d/e/f', text('2'), { ifNoneMatch: '*' })
        await store.put('d/e/g', text('3'))
        expect(await keysOf(store, 'd/')).toEqual(['d/e/f', 'd/e/g'])
      })
    })

    describe('key validation', () => {
      const BAD = ['../x', '/abs', 'a//b', 'a/./b', 'a/../b', '..', '.', 'a\u0000b', 'a\\b', '', 'a/', 'x/..']

      it.each(BAD.map((k) => [JSON.stringify(k), k]))('rejects %s everywhere and writes nothing', async (_, key) => {
        const keep = await store.put('keep', text('kept'))
        await expectCode(() => store.get(key), 'STRATA_INVALID_KEY')
        await expectCode(() => store.get(key, { range: { offset: 0, length: 1 } }), 'STRATA_INVALID_KEY')
        await expectCode(() => store.head(key), 'STRATA_INVALID_KEY')
        await expectCode(() => store.put(key, text('x')), 'STRATA_INVALID_KEY')
        await expectCode(() => store.put(key, text('x'), { ifNoneMatch: '*' }), 'STRATA_INVALID_KEY')
        await expectCode(() => store.put(key, text('x'), { ifMatch: keep.version }), 'STRATA_INVALID_KEY')
        await expectCode(() => store.delete(['keep', key]), 'STRATA_INVALID_KEY')
        // The empty prefix and a prefix ending in '/' are valid for list.
        if (key !== '' && key !== 'a/') await expectCode(() => collect(store.list(key)), 'STRATA_INVALID_KEY')
        expect(await keysOf(store, '')).toEqual(['keep'])
        const got = await store.get('keep')
        expect(str(got!.body)).toBe('kept')
        expect(got!.version).toBe(keep.version)
      })
    })

    describe('between processes', () => {
      let workers: StoreWorkers | undefined

      beforeAll(async () => {
        workers = await StoreWorkers.start(PROCESSES)
      }, 120_000)

      afterAll(async () => {
        await workers?.close()
      })

      beforeEach(async () => {
        const child = fixture!.child
        expectAllOk(await workers!.broadcast(() => ({ op: 'open', module: child.module, arg: child.arg })))
      })

      afterEach(async () => {
        await workers?.broadcast(() => ({ op: 'close' }))
      })

      /** `PROCESSES` children race one conditional put per round; exactly one wins, and its bytes are stored. */
      async function raceRounds(name: string, condition: (key: string) => Promise<{ ifNoneMatch: true } | { ifMatch: string }>): Promise<void> {
        for (let round = 0; round < 3; round++) {
          const key = `mp/${name}-${round}`
          const cond = await condition(key)
          const bodies = Array.from({ length: PROCESSES }, (_, i) => `process ${i} round ${round} `.repeat(i + 1))
          const startAt = Date.now() + 150
          const replies = await workers!.broadcast((i) => ({ op: 'put', key, body: Buffer.from(bodies[i]!).toString('base64'), ...cond, startAt }))
          const winner = singleWinner(replies)
          const got = await store.get(key)
          expect(str(got!.body)).toBe(bodies[winner.index])
          expect(got!.version).toBe((winner.result as { version: string }).version)
        }
      }

      it(`lets exactly one of ${PROCESSES} processes win a create-only put`, async () => {
        await raceRounds('create', async () => ({ ifNoneMatch: true }))
      }, 60_000)

      it(`lets exactly one of ${PROCESSES} processes win an ifMatch put from one version`, async () => {
        await raceRounds('cas', async (key) => ({ ifMatch: (await store.put(key, text('base'))).version }))
      }, 60_000)

      it(`loses no update when ${PROCESSES} processes increment one counter with ifMatch`, async () => {
        const times = 25
        await store.put('mp/counter', text('0'))
        const startAt = Date.now() + 150
        expectAllOk(await workers!.broadcast(() => ({ op: 'increment', key: 'mp/counter', times, startAt })))
        expect(str((await store.get('mp/counter'))!.body)).toBe(String(PROCESSES * times))
      }, 120_000)
    })
  })
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function str(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes)
}

/** Deterministic pseudo-random bytes (xorshift32). */
function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    bytes[i] = x & 0xff
  }
  return bytes
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

async function collect(items: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  for await (const item of items) out.push(item)
  return out
}

async function keysOf(store: ObjectStore, prefix: string, startAfter?: string): Promise<string[]> {
  return (await collect(store.list(prefix, startAfter === undefined ? {} : { startAfter }))).map((i) => i.key)
}

async function inBatches<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

function codeOf(e: unknown): string | undefined {
  return isStrataError(e) ? e.code : undefined
}

/** Assert that running `action` (or awaiting the promise) throws a Strata error with `code`. */
async function expectCode(action: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  let error: unknown
  let threw = false
  try {
    await (typeof action === 'function' ? action() : action)
  } catch (e) {
    threw = true
    error = e
  }
  expect(threw, `expected an error with code ${code}`).toBe(true)
  expect(codeOf(error), `expected ${code}, got ${String(error)}`).toBe(code)
}

function expectAllOk(replies: WorkerReply[]): void {
  for (const reply of replies) {
    if (!reply.ok) expect.fail(`a store worker failed: ${reply.error.message}`)
  }
}

/** Exactly one reply succeeded and every other one is a conflict; return the winner. */
function singleWinner(replies: WorkerReply[]): { index: number; result: unknown } {
  const winners = replies.flatMap((r, index) => (r.ok ? [{ index, result: r.result }] : []))
  const losers = replies.flatMap((r) => (r.ok ? [] : [r.error]))
  expect(losers.map((e) => `${e.code}: ${e.message}`).filter((m) => !m.startsWith('STRATA_CONFLICT'))).toEqual([])
  expect(winners).toHaveLength(1)
  return winners[0]!
}
