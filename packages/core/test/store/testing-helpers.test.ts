import fs from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isStrataError } from '../../src/errors/index.js'
import { LocalStore } from '../../src/store/index.js'
import { CountingStore, FaultyStore, dumpStore, localStoreFixture, tempDir } from '@strata/core/testing'
import type { StoreFixture } from '@strata/core/testing'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

async function drain(items: AsyncIterable<unknown>): Promise<number> {
  let n = 0
  for await (const _ of items) n++
  return n
}

describe('testing helpers', () => {
  let fixture: StoreFixture & { store: LocalStore }

  beforeEach(async () => {
    fixture = await localStoreFixture()
  })

  afterEach(async () => {
    await fixture.cleanup()
  })

  describe('tempDir', () => {
    it('creates an empty directory and removes it, idempotently', async () => {
      const dir = await tempDir('strata-helper-')
      expect(await fs.readdir(dir.path)).toEqual([])
      await fs.writeFile(`${dir.path}/f`, 'x')
      await dir.cleanup()
      await dir.cleanup()
      await expect(fs.stat(dir.path)).rejects.toThrow()
    })
  })

  describe('dumpStore', () => {
    it('prints sorted keys with sizes', async () => {
      const store = fixture.store
      expect(await dumpStore(store)).toBe('')
      await store.put('snapshots/b', new Uint8Array(10))
      await store.put('refs/main', new Uint8Array(3))
      await store.put('snapshots/a', new Uint8Array(0))
      expect(await dumpStore(store)).toMatchInlineSnapshot(`
        "refs/main 3
        snapshots/a 0
        snapshots/b 10"
      `)
      expect(await dumpStore(store, 'snapshots/')).toBe('snapshots/a 0\nsnapshots/b 10')
    })
  })

  describe('CountingStore', () => {
    it('counts calls, bytes and objects per operation', async () => {
      const counting = new CountingStore(fixture.store)
      expect(counting.url).toBe(fixture.store.url)
      await counting.put('a', new Uint8Array(100))
      await counting.put('b/c', new Uint8Array(28))
      await counting.get('a')
      await counting.get('a', { range: { offset: 10, length: 5 } })
      await counting.get('missing')
      await counting.head('b/c')
      expect(await drain(counting.list(''))).toBe(2)
      await counting.delete(['a', 'missing'])
      await expect(counting.put('b/c', new Uint8Array(7), { ifNoneMatch: '*' })).rejects.toThrow()

      expect(counting.counts).toEqual({
        get: { calls: 3, bytes: 105, objects: 2 },
        head: { calls: 1, bytes: 0, objects: 1 },
        put: { calls: 3, bytes: 135, objects: 3 },
        list: { calls: 1, bytes: 0, objects: 2 },
        delete: { calls: 1, bytes: 0, objects: 2 },
      })
      expect(counting.bytesWritten).toBe(135)
      expect(counting.bytesRead).toBe(105)
      expect(counting.calls).toBe(9)
      expect(counting.keysWritten).toEqual(['a', 'b/c', 'b/c'])
      expect(counting.log.map((c) => `${c.operation} ${c.key}`)).toEqual([
        'put a',
        'put b/c',
        'get a',
        'get a',
        'get missing',
        'head b/c',
        'list ',
        'delete a',
        'delete missing',
        'put b/c',
      ])

      counting.reset()
      expect(counting.calls).toBe(0)
      expect(counting.log).toEqual([])
      expect(counting.bytesWritten).toBe(0)
    })
  })

  describe('FaultyStore', () => {
    it('fails the nth matching call before it reaches the store', async () => {
      const faulty = new FaultyStore(fixture.store, { rules: [{ operation: 'put', keyPrefix: 'seg/', nth: 2 }] })
      await faulty.put('seg/1', text('1'))
      await faulty.put('other', text('x'))
      const e = await faulty.put('seg/2', text('2')).catch((err: unknown) => err)
      expect(isStrataError(e, 'STRATA_STORE_ERROR')).toBe(true)
      expect((e as { data: { retryable: boolean } }).data.retryable).toBe(true)
      expect(await fixture.store.head('seg/2')).toBeNull()
      await faulty.put('seg/3', text('3'))
      expect(faulty.injected.map((f) => `${f.when} ${f.call.operation} ${f.call.key}`)).toEqual(['before put seg/2'])
    })

    it('fails after the write when asked, so the bytes land anyway', async () => {
      const faulty = new FaultyStore(fixture.store)
      faulty.addRule({ operation: 'put', when: 'after', error: (call) => new Error(`boom ${call.key}`) })
      await expect(faulty.put('k', text('landed'))).rejects.toThrow('boom k')
      expect(new TextDecoder().decode((await fixture.store.get('k'))!.body)).toBe('landed')
      await faulty.put('k2', text('fine'))
    })

    it('fails a run of calls, any operation, and can be cleared', async () => {
      await fixture.store.put('x', text('x'))
      const faulty = new FaultyStore(fixture.store)
      const remove = faulty.addRule({ operation: '*', nth: 2, times: 2 })
      await faulty.get('x')
      await expect(faulty.head('x')).rejects.toThrow()
      await expect(drain(faulty.list(''))).rejects.toThrow()
      await faulty.get('x')
      remove()
      faulty.addRule({ operation: 'delete', keyPrefix: 'x', times: Infinity })
      await expect(faulty.delete(['a', 'x'])).rejects.toThrow()
      await expect(faulty.delete(['x'])).rejects.toThrow()
      await faulty.delete(['other'])
      faulty.clearRules()
      await faulty.delete(['x'])
      expect(await fixture.store.head('x')).toBeNull()
    })

    it('fails a list after yielding everything when asked', async () => {
      await fixture.store.put('a', text('a'))
      await fixture.store.put('b', text('b'))
      const faulty = new FaultyStore(fixture.store, { rules: [{ operation: 'list', when: 'after' }] })
      const seen: string[] = []
      await expect(
        (async () => {
          for await (const info of faulty.list('')) seen.push(info.key)
        })(),
      ).rejects.toThrow()
      expect(seen).toEqual(['a', 'b'])
    })

    it('adds latency per call', async () => {
      const faulty = new FaultyStore(fixture.store, { latencyMs: (call) => (call.operation === 'get' ? 60 : 0) })
      await faulty.put('k', text('v'))
      const started = performance.now()
      await faulty.get('k')
      expect(performance.now() - started).toBeGreaterThanOrEqual(50)
      faulty.latencyMs = 0
      const again = performance.now()
      await faulty.get('k')
      expect(performance.now() - again).toBeLessThan(50)
    })
  })
})
