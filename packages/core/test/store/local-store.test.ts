import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isStrataError } from '../../src/errors/index.js'
import type { ErrorCode, StoreError } from '../../src/errors/index.js'
import { LocalStore } from '../../src/store/index.js'
import { describeObjectStore, dumpStore, localStoreFixture, tempDir } from '@strata/core/testing'
import type { TempDir } from '@strata/core/testing'
import { holdKeyLock } from './fixtures/key-lock.js'

describeObjectStore('LocalStore', () => localStoreFixture())

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array): string => new TextDecoder().decode(b)

async function caught(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action()
  } catch (e) {
    return e
  }
  throw new Error('expected the action to throw')
}

async function expectCode(action: () => Promise<unknown>, code: ErrorCode): Promise<unknown> {
  const e = await caught(action)
  expect(isStrataError(e) ? e.code : String(e)).toBe(code)
  return e
}

async function listKeys(store: LocalStore, prefix = ''): Promise<string[]> {
  const keys: string[] = []
  for await (const info of store.list(prefix)) keys.push(info.key)
  return keys
}

describe('LocalStore', () => {
  let dir: TempDir
  let root: string
  let store: LocalStore

  beforeEach(async () => {
    dir = await tempDir('strata-local-')
    root = path.join(dir.path, 'store')
    store = await LocalStore.open(root)
  })

  afterEach(async () => {
    await dir.cleanup()
  })

  it('reads into a lent buffer that fits, and into its own when the lent one is too small', async () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
    await store.put('segments/a', bytes)
    const into = new Uint8Array(new SharedArrayBuffer(512)).fill(0xee)
    const got = await store.get('segments/a', { range: { offset: 100, length: 300 }, into })
    expect(got!.body.buffer).toBe(into.buffer)
    expect(Buffer.from(got!.body).equals(Buffer.from(bytes.subarray(100, 400)))).toBe(true)
    expect(into[300]).toBe(0xee)
    const whole = await store.get('segments/a', { into })
    expect(whole!.body.buffer).not.toBe(into.buffer)
    expect(Buffer.from(whole!.body).equals(Buffer.from(bytes))).toBe(true)
  })

  describe('opening', () => {
    it('accepts a path, a file: URL string or a URL, and reports a file: URL', async () => {
      expect(store.url).toBe(pathToFileURL(root).href)
      expect(store.root).toBe(root)
      const viaString = await LocalStore.open(pathToFileURL(root).href)
      const viaUrl = await LocalStore.open(pathToFileURL(root))
      await store.put('k', text('v'))
      expect(str((await viaString.get('k'))!.body)).toBe('v')
      expect(str((await viaUrl.get('k'))!.body)).toBe('v')
    })

    it('refuses other URL schemes and a root that is a file', async () => {
      await expectCode(() => LocalStore.open('s3://bucket/prefix'), 'STRATA_INVALID_ARGUMENT')
      const file = path.join(dir.path, 'a-file')
      await fs.writeFile(file, 'x')
      const e = await expectCode(() => LocalStore.open(file), 'STRATA_FILE_ERROR')
      expect(e).toMatchObject({ data: { path: file, problem: 'not-a-directory' } })
      const under = await expectCode(() => LocalStore.open(path.join(file, 'store')), 'STRATA_FILE_ERROR')
      expect(under).toMatchObject({ data: { path: file, problem: 'not-a-directory' } })
    })

    it('reads a missing root as empty without creating it, and creates it on the first write', async () => {
      const later = new LocalStore(path.join(dir.path, 'not-yet'))
      expect(await later.get('k')).toBeNull()
      expect(await later.head('k')).toBeNull()
      expect(await listKeys(later)).toEqual([])
      await later.delete(['k'])
      await expect(fs.stat(later.root)).rejects.toThrow()
      await later.put('a/b', text('v'))
      expect(await listKeys(later)).toEqual(['a/b'])
    })

    it('wraps OS errors in StoreError with operation, key, store and cause', async () => {
      const file = path.join(dir.path, 'plain-file')
      await fs.writeFile(file, 'x')
      const broken = new LocalStore(file)
      const e = (await expectCode(() => broken.put('k', text('v')), 'STRATA_STORE_ERROR')) as StoreError
      expect(e.data).toEqual({ operation: 'put', key: 'k', store: pathToFileURL(file).href, retryable: false })
      expect(e.cause).toBeInstanceOf(Error)
    })
  })

  describe('layout', () => {
    it('stores each object as a plain file at its key', async () => {
      await store.put('segments/abc', text('page bytes'))
      expect(await fs.readFile(path.join(root, 'segments', 'abc'), 'utf8')).toBe('page bytes')
    })

    it('reserves .tmp and .locks', async () => {
      for (const key of ['.tmp', '.tmp/x', '.locks/x']) {
        await expectCode(() => store.put(key, text('x')), 'STRATA_INVALID_KEY')
        await expectCode(() => store.get(key), 'STRATA_INVALID_KEY')
      }
      await expectCode(async () => listKeys(store, '.tmp/'), 'STRATA_INVALID_KEY')
      await store.put('.tmpx', text('a real key'))
      await fs.writeFile(path.join(root, '.tmp', 'orphan'), 'leftover')
      expect(await listKeys(store, '.t')).toEqual(['.tmpx'])
      expect(await listKeys(store, '')).toEqual(['.tmpx'])
    })

    it('removes directories a delete leaves empty, but never the root', async () => {
      await store.put('a/b/c/d', text('1'))
      await store.put('a/x', text('2'))
      await store.delete(['a/b/c/d'])
      expect((await fs.readdir(path.join(root, 'a'))).sort()).toEqual(['x'])
      await store.delete(['a/x'])
      expect((await fs.readdir(root)).sort()).toEqual(['.locks', '.tmp'])
    })

    it('refuses a key that is both an object and a directory of other keys', async () => {
      await store.put('obj', text('x'))
      await expectCode(() => store.put('obj/child', text('y')), 'STRATA_INVALID_KEY')
      await store.put('dir/child', text('y'))
      await expectCode(() => store.put('dir', text('x')), 'STRATA_INVALID_KEY')
      await expectCode(() => store.put('dir', text('x'), { ifNoneMatch: '*' }), 'STRATA_INVALID_KEY')
      expect(await store.get('dir')).toBeNull()
      expect(await store.head('dir')).toBeNull()
      expect(await store.get('obj/child')).toBeNull()
      expect(await dumpStore(store)).toBe('dir/child 1\nobj 1')
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([])
    })

    it('changes the version even when identical bytes are rewritten', async () => {
      const versions = new Set<string>()
      for (let i = 0; i < 20; i++) versions.add((await store.put('same', text('identical'))).version)
      expect(versions.size).toBe(20)
    })
  })

  describe('arguments', () => {
    it('rejects bad ranges, conflicting conditions and aborted calls', async () => {
      await store.put('k', text('value'))
      await expectCode(() => store.get('k', { range: { offset: -1, length: 2 } }), 'STRATA_INVALID_ARGUMENT')
      await expectCode(() => store.get('k', { range: { offset: 0, length: 1.5 } }), 'STRATA_INVALID_ARGUMENT')
      const { version } = (await store.head('k'))!
      await expectCode(() => store.put('k', text('x'), { ifNoneMatch: '*', ifMatch: version }), 'STRATA_INVALID_ARGUMENT')
      const aborted = AbortSignal.abort()
      await expectCode(() => store.get('k', { signal: aborted }), 'STRATA_ABORTED')
      await expectCode(() => store.put('k', text('x'), { signal: aborted }), 'STRATA_ABORTED')
      expect(str((await store.get('k'))!.body)).toBe('value')
    })
  })

  describe('containment', () => {
    let outside: string

    beforeEach(async () => {
      outside = path.join(dir.path, 'outside')
      await fs.mkdir(outside)
      await fs.writeFile(path.join(outside, 'secret'), 'secret bytes')
      await store.put('real/key', text('inside'))
    })

    it('does not follow a directory link out of the root', async () => {
      await fs.symlink(outside, path.join(root, 'evil'))
      await expectCode(() => store.get('evil/secret'), 'STRATA_STORE_ERROR')
      await expectCode(() => store.head('evil/secret'), 'STRATA_STORE_ERROR')
      await expectCode(() => store.put('evil/new', text('x')), 'STRATA_STORE_ERROR')
      await expectCode(() => store.put('evil/secret', text('x')), 'STRATA_STORE_ERROR')
      await expectCode(() => store.put('evil/new', text('x'), { ifNoneMatch: '*' }), 'STRATA_STORE_ERROR')
      await expectCode(() => store.delete(['evil/secret']), 'STRATA_STORE_ERROR')
      await expectCode(() => listKeys(store, 'evil/'), 'STRATA_STORE_ERROR')
      expect(await listKeys(store)).toEqual(['real/key'])
      expect((await fs.readdir(outside)).sort()).toEqual(['secret'])
      expect(await fs.readFile(path.join(outside, 'secret'), 'utf8')).toBe('secret bytes')
    })

    it('does not follow a link deeper in the path, even one pointing inside the root', async () => {
      await fs.mkdir(path.join(root, 'a'))
      await fs.symlink(outside, path.join(root, 'a', 'b'))
      await fs.symlink(path.join(root, 'real'), path.join(root, 'alias'))
      await expectCode(() => store.get('a/b/secret'), 'STRATA_STORE_ERROR')
      await expectCode(() => store.put('a/b/c/new', text('x')), 'STRATA_STORE_ERROR')
      await expectCode(() => store.get('alias/key'), 'STRATA_STORE_ERROR')
      expect(await fs.readdir(outside)).toEqual(['secret'])
    })

    it('does not read or write through a file link', async () => {
      await fs.symlink(path.join(outside, 'secret'), path.join(root, 'link'))
      await expectCode(() => store.get('link'), 'STRATA_STORE_ERROR')
      await expectCode(() => store.head('link'), 'STRATA_STORE_ERROR')
      await expectCode(() => store.put('link', text('x'), { ifNoneMatch: '*' }), 'STRATA_CONFLICT')
      expect(await listKeys(store)).toEqual(['real/key'])
      // An unconditional put replaces the link itself; the file it pointed at is untouched.
      await store.put('link', text('replaced'))
      expect(str((await store.get('link'))!.body)).toBe('replaced')
      expect(await fs.readFile(path.join(outside, 'secret'), 'utf8')).toBe('secret bytes')
    })

    it('refuses reserved directories that are links', async () => {
      const fresh = path.join(dir.path, 'fresh')
      await fs.mkdir(fresh)
      await fs.symlink(outside, path.join(fresh, '.tmp'))
      const s = new LocalStore(fresh)
      await expectCode(() => s.put('k', text('x')), 'STRATA_STORE_ERROR')
      expect(await fs.readdir(outside)).toEqual(['secret'])
    })
  })

  describe('atomicity', () => {
    it('never shows a reader a partial or mixed object during many rewrites', async () => {
      const sizes = [1, 4096, 65_536, 300_000, 1_000_003]
      const bodyFor = (i: number): Uint8Array => new Uint8Array(sizes[i % sizes.length]!).fill(i % 251)
      await store.put('hot', bodyFor(0))
      let writing = true
      let reads = 0
      const writer = (async () => {
        for (let i = 1; i <= 150; i++) await store.put('hot', bodyFor(i))
        writing = false
      })()
      const reader = async (): Promise<void> => {
        while (writing) {
          const got = await store.get('hot')
          expect(got).not.toBeNull()
          const { body, size } = got!
          expect(body.length).toBe(size)
          const fill = body[0]!
          expect(sizes).toContain(size)
          expect(body.every((b) => b === fill)).toBe(true)
          const ranged = await store.get('hot', { range: { offset: 0, length: 2 } })
          expect(ranged).not.toBeNull()
          reads++
        }
      }
      await Promise.all([writer, reader(), reader()])
      expect(reads).toBeGreaterThan(10)
    }, 60_000)

    it('never lists temporary files, even while writes are in flight', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `w/${i}`)
      const writes = Promise.all(keys.map((k) => store.put(k, new Uint8Array(200_000))))
      const seen = new Set<string>()
      for (let i = 0; i < 20; i++) for (const k of await listKeys(store)) seen.add(k)
      await writes
      for (const k of await listKeys(store)) seen.add(k)
      expect([...seen].sort()).toEqual([...keys].sort())
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([])
      expect(await fs.readdir(path.join(root, '.locks'))).toEqual([])
    })

    it('survives deletes pruning the directory a put is writing into', async () => {
      for (let i = 0; i < 150; i++) {
        await Promise.all([
          store.put(`p/q/k${i}`, text(String(i)), { ifNoneMatch: '*' }),
          store.delete([`p/q/k${i - 1}`]),
        ])
      }
      expect(await listKeys(store)).toEqual(['p/q/k149'])
    })
  })

  describe('locks', () => {
    it('breaks a lock left by a killed process', async () => {
      const { version } = await store.put('locked/key', text('before'))
      const holder = spawn(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/hold-lock.ts', import.meta.url)), root, 'locked/key'],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      const exited = once(holder, 'exit')
      try {
        const [line] = (await once(createInterface({ input: holder.stdout! }), 'line')) as [string]
        expect(line).toBe('locked')
        expect(await fs.readdir(path.join(root, '.locks'))).toHaveLength(1)

        // While the holder lives, a writer waits and then gives up with a retryable error.
        const impatient = new LocalStore(root, { lockTimeoutMs: 200 })
        const put = () => impatient.put('locked/key', text('x'), { ifMatch: version })
        const e = (await expectCode(put, 'STRATA_STORE_ERROR')) as StoreError
        expect(e.data.retryable).toBe(true)
      } finally {
        holder.kill('SIGKILL')
        await exited
      }
      const started = Date.now()
      await store.put('locked/key', text('after'), { ifMatch: version })
      expect(Date.now() - started).toBeLessThan(2000)
      expect(str((await store.get('locked/key'))!.body)).toBe('after')
      expect(await fs.readdir(path.join(root, '.locks'))).toEqual([])
    }, 30_000)

    it('breaks a lock held longer than the stale limit, even by a live process', async () => {
      const { version } = await store.put('slow', text('before'))
      const release = await holdKeyLock(root, 'slow')
      const other = new LocalStore(root, { lockStaleMs: 300, lockTimeoutMs: 5000 })
      const started = Date.now()
      await other.put('slow', text('after'), { ifMatch: version })
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      await release()
      expect(str((await store.get('slow'))!.body)).toBe('after')
      expect(await fs.readdir(path.join(root, '.locks'))).toEqual([])
    })

    it('serializes deletes with conditional puts', async () => {
      const { version } = await store.put('contested', text('v1'))
      const release = await holdKeyLock(root, 'contested')
      const pending = [store.delete(['contested']), store.put('contested', text('v2'), { ifMatch: version })]
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(str((await store.get('contested'))!.body)).toBe('v1')
      await release()
      const [deleted, put] = await Promise.allSettled(pending)
      expect(deleted!.status).toBe('fulfilled')
      // Whichever ran first, the other saw its effect: never a put resurrecting a deleted key.
      if (put!.status === 'fulfilled') {
        expect(await store.get('contested')).toBeNull()
      } else {
        expect(isStrataError(put!.reason, 'STRATA_CONFLICT')).toBe(true)
        expect(await store.get('contested')).toBeNull()
      }
    })
  })
})
