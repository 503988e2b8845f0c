import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError, probeStore, type GetOptions, type ListOptions, type ObjectStore, type PutOptions } from '../../src/index.js'
import { probeCompareAndSwap } from '../../src/store/doctor.js'
import { FaultyStore, dumpStore } from '../../src/testing/index.js'
import { scratch } from '../helpers.js'

let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function localStore(): Promise<LocalStore> {
  const s = await scratch()
  cleanups.push(s.cleanup)
  return new LocalStore(join(s.dir, 'store'))
}

/**
 * A real store behind a front that drops the conditions of puts, as S3-compatible servers without
 * conditional-write support do (they answer 200 and overwrite).
 */
class IgnoresConditions implements ObjectStore {
  constructor(readonly inner: ObjectStore) {}
  get url(): string {
    return this.inner.url
  }
  get(key: string, opts?: GetOptions) {
    return this.inner.get(key, opts)
  }
  head(key: string) {
    return this.inner.head(key)
  }
  put(key: string, body: Uint8Array, _opts?: PutOptions) {
    return this.inner.put(key, body)
  }
  list(prefix: string, opts?: ListOptions) {
    return this.inner.list(prefix, opts)
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys)
  }
}

describe('probeStore (strata doctor)', () => {
  it('finds a local directory fit for Strata and leaves nothing behind', async () => {
    const store = await localStore()
    const phases: string[] = []
    const r = await probeStore(store, { concurrencyLevels: [1, 4], objectBytes: 16 * 1024, onPhase: (p) => phases.push(p) })
    expect(r).toMatchObject({
      ok: true,
      problems: [],
      reachable: { ok: true },
      repository: null,
      writable: { ok: true },
      cas: { createOnly: 'enforced', replaceIfVersion: 'enforced', ok: true },
      listConsistency: { ok: true, written: 20, listedAfterWrite: 20, listedAfterDelete: 0 },
      cleanedUp: true,
    })
    expect(r.concurrency.map((s) => s.level)).toEqual([1, 4])
    expect(r.concurrency.every((s) => s.errors === 0 && s.objectsPerSecond > 0)).toBe(true)
    expect([1, 4]).toContain(r.recommendedConcurrency)
    expect(phases).toEqual(['reachability', 'write', 'compare-and-swap', 'list consistency', 'upload concurrency', 'cleanup'])
    expect(await dumpStore(store)).toBe('')
  })

  it('reports the repository a store holds', async () => {
    const store = await localStore()
    const repo = await Repository.init(store)
    const r = await probeStore(store, { concurrencyLevels: [1], objectBytes: 1024 })
    expect(r.repository).toMatchObject({ storeId: repo.storeId })
    expect(await dumpStore(store)).toBe((await dumpStore(store, 'strata.format')))
  })

  it('finds conditional writes that are not enforced', async () => {
    const store = new IgnoresConditions(await localStore())
    const cas = await probeCompareAndSwap(store)
    expect(cas).toEqual({ createOnly: 'ignored', replaceIfVersion: 'ignored', ok: false, error: null })
    const r = await probeStore(store, { concurrencyLevels: [1], objectBytes: 1024 })
    expect(r.ok).toBe(false)
    expect(r.problems.join('\n')).toMatch(/conditional writes are not enforced/)
    expect(r.cleanedUp).toBe(true)
  })

  it('reports a read-only store and an unreachable one without throwing', async () => {
    const inner = await localStore()
    const readOnly = new FaultyStore(inner, { rules: [{ operation: 'put', times: Infinity }] })
    const r = await probeStore(readOnly)
    expect(r).toMatchObject({ ok: false, reachable: { ok: true }, writable: { ok: false }, cas: null })
    const down = new FaultyStore(inner, { rules: [{ operation: '*', times: Infinity }] })
    const d = await probeStore(down)
    expect(d).toMatchObject({ ok: false, reachable: { ok: false }, writable: { ok: false } })
    expect(d.problems[0]).toMatch(/unreachable/)
  })

  it('recommends a lower concurrency when uploads fail at a higher one', async () => {
    const inner = await localStore()
    // A real store that answers SlowDown to uploads while more than 4 are in flight.
    let inFlight = 0
    const store: ObjectStore = {
      url: inner.url,
      get: (k, o) => inner.get(k, o),
      head: (k) => inner.head(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      put: async (k, b, o) => {
        inFlight++
        try {
          await new Promise((r) => setTimeout(r, 2))
          if (inFlight > 4 && k.includes('/upload/')) throw new Error('SlowDown: reduce your request rate')
          return await inner.put(k, b, o)
        } finally {
          inFlight--
        }
      },
    }
    const r = await probeStore(store, { concurrencyLevels: [1, 4, 16], objectBytes: 1024 })
    expect(r.concurrency.map((s) => [s.level, s.errors > 0])).toEqual([
      [1, false],
      [4, false],
      [16, true],
    ])
    expect([1, 4]).toContain(r.recommendedConcurrency)
    expect(r.problems.join('\n')).toMatch(/uploads failed at concurrency 16/)
    expect(r.cleanedUp).toBe(true)
  })
})

describe('Repository.init refuses a store without compare-and-swap', () => {
  it('throws UnsafeStoreError and writes nothing, unless the caller opts in', async () => {
    const inner = await localStore()
    const store = new IgnoresConditions(inner)
    const e = await Repository.init(store).catch((x: unknown) => x)
    expect(isStrataError(e, 'STRATA_UNSAFE_STORE')).toBe(true)
    expect(e).toMatchObject({ data: { store: inner.url, createOnly: 'ignored', replaceIfVersion: 'ignored' } })
    expect(await dumpStore(inner)).toBe('')
    const repo = await Repository.init(store, { unsafeNoCas: true })
    expect(await Repository.open(inner)).toMatchObject({ storeId: repo.storeId })
  })

  it('probes and cleans up on a store that enforces conditions', async () => {
    const store = await localStore()
    await Repository.init(store)
    expect(await dumpStore(store)).toMatch(/^strata\.format \d+$/)
    expect(await Repository.init(store).catch((x: unknown) => (x as { code?: string }).code)).toBe('STRATA_REPOSITORY_EXISTS')
  })
})
