import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { InvalidArgumentError } from '../errors/index.js'
import { validateKey } from './keys.js'
import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js'

/** Options of {@link CachingStore}. */
export interface CachingStoreOptions {
  /** The cache directory. Several processes and stores may share it (entries are per store URL). */
  dir: string
  /** Evict least recently used entries beyond this many bytes. Default 1 GiB. */
  maxBytes?: number
  /**
   * Key prefixes whose objects never change once written (Strata's segments and manifests are
   * content-addressed). Only these are cached. Default `['segments/', 'snapshots/']`.
   */
  immutablePrefixes?: readonly string[]
  /** Objects larger than this are never cached (reads pass through). Default 64 MiB. */
  maxObjectBytes?: number
}

/** What a {@link CachingStore} did, for tests and benchmarks. */
export interface CacheStats {
  hits: number
  misses: number
  /** Bytes fetched from the inner store to fill the cache. */
  bytesFetched: number
  evictions: number
}

/**
 * A size-bounded local disk cache in front of a (remote) store, for immutable objects only.
 *
 * A read of a cacheable key is served from the cache; on a miss the whole object is fetched once,
 * stored atomically (temp file + rename) and the requested range served from it, so a later read
 * of any other range of the same segment costs no request. Mutable keys (refs) and writes pass
 * straight through; a put of a cacheable key is written through to the cache as well. Entries
 * are shared by every branch of a store: switching between branches that share ancestry reads
 * only what differs. A stale entry cannot exist (the objects are immutable); a damaged one is
 * caught by the engine's page hashes — clear the directory to recover.
 */
export class CachingStore implements ObjectStore {
  readonly stats: CacheStats = { hits: 0, misses: 0, bytesFetched: 0, evictions: 0 }
  readonly #dir: string
  readonly #maxBytes: number
  readonly #maxObjectBytes: number
  readonly #prefixes: readonly string[]
  readonly #inflight = new Map<string, Promise<Uint8Array | null>>()
  #size: number | null = null

  constructor(
    readonly inner: ObjectStore,
    options: CachingStoreOptions,
  ) {
    if (!options.dir) throw new InvalidArgumentError({ argument: 'cache dir', reason: 'is empty' })
    // One subdirectory per store, so caches of different stores never mix.
    const storeTag = Buffer.from(inner.url).toString('base64url').slice(0, 120)
    this.#dir = path.join(path.resolve(options.dir), storeTag)
    this.#maxBytes = options.maxBytes ?? 1024 * 1024 * 1024
    this.#maxObjectBytes = options.maxObjectBytes ?? 64 * 1024 * 1024
    this.#prefixes = options.immutablePrefixes ?? ['segments/', 'snapshots/']
  }

  /** The inner store's URL. */
  get url(): string {
    return this.inner.url
  }

  /** The inner store's. */
  get listPageSize(): number | undefined {
    return this.inner.listPageSize
  }

  #cacheable(key: string): boolean {
    return this.#prefixes.some((p) => key.startsWith(p))
  }

  #file(key: string): string {
    return path.join(this.#dir, ...key.split('/'))
  }

  /** Served from the cache for immutable keys; fetched whole and cached on a miss. */
  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    validateKey(key)
    if (!this.#cacheable(key)) return this.inner.get(key, opts)
    const file = this.#file(key)
    const cached = await readCached(file, opts.range)
    if (cached) {
      this.stats.hits++
      // Mark as recently used; failure only affects eviction order.
      const now = new Date()
      void utimes(file, now, now).catch(() => {})
      return cached
    }
    this.stats.misses++
    const head = opts.range ? await this.inner.head(key, opts.signal ? { signal: opts.signal } : {}) : null
    if (opts.range && (!head || head.size > this.#maxObjectBytes)) return head ? this.inner.get(key, opts) : null
    const whole = await this.#fill(key, file, opts.signal)
    if (!whole) return null
    const start = Math.min(opts.range?.offset ?? 0, whole.byteLength)
    const end = opts.range ? Math.min(whole.byteLength, start + opts.range.length) : whole.byteLength
    return { body: whole.subarray(start, end), version: 'immutable', size: whole.byteLength }
  }

  async #fill(key: string, file: string, signal: AbortSignal | undefined): Promise<Uint8Array | null> {
    let p = this.#inflight.get(key)
    if (!p) {
      p = (async () => {
        const got = await this.inner.get(key, signal ? { signal } : {})
        if (!got) return null
        this.stats.bytesFetched += got.body.byteLength
        if (got.body.byteLength <= this.#maxObjectBytes) await this.#store(file, got.body)
        return got.body
      })()
      this.#inflight.set(key, p)
      p.finally(() => this.#inflight.delete(key)).catch(() => {})
    }
    return p
  }

  async #store(file: string, body: Uint8Array): Promise<void> {
    try {
      await mkdir(path.dirname(file), { recursive: true })
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
      await writeFile(tmp, body)
      await rename(tmp, file)
      this.#size = (this.#size ?? (await this.#measure())) + body.byteLength
      if (this.#size > this.#maxBytes) await this.#evict()
    } catch {
      // A cache that cannot write is only a slower cache.
    }
  }

  async #measure(): Promise<number> {
    let total = 0
    for (const e of await listFiles(this.#dir)) total += e.size
    return total
  }

  async #evict(): Promise<void> {
    const files = (await listFiles(this.#dir)).sort((a, b) => a.mtimeMs - b.mtimeMs)
    let total = files.reduce((s, f) => s + f.size, 0)
    const target = this.#maxBytes * 0.8
    for (const f of files) {
      if (total <= target) break
      await rm(f.path, { force: true })
      total -= f.size
      this.stats.evictions++
    }
    this.#size = total
  }

  /** Passed through. */
  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    return this.inner.head(key, opts)
  }

  /** Written to the inner store; an immutable object is kept in the cache too. */
  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    const r = await this.inner.put(key, body, opts)
    if (this.#cacheable(key) && body.byteLength <= this.#maxObjectBytes) await this.#store(this.#file(key), body)
    return r
  }

  /** Passed through. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts)
  }

  /** Deleted from the inner store and from the cache. */
  async delete(keys: readonly string[]): Promise<void> {
    await this.inner.delete(keys)
    await Promise.all(keys.filter((k) => this.#cacheable(k)).map((k) => rm(this.#file(k), { force: true })))
    this.#size = null
  }

  /** Closes the inner store. */
  async close(): Promise<void> {
    await this.inner.close?.()
  }
}

async function readCached(file: string, range: GetOptions['range']): Promise<GetResult | null> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch {
    return null
  }
  try {
    const size = (await fh.stat()).size
    const start = Math.min(range?.offset ?? 0, size)
    const end = range ? Math.min(size, start + range.length) : size
    const body = new Uint8Array(end - start)
    let done = 0
    while (done < body.length) {
      const { bytesRead } = await fh.read(body, done, body.length - done, start + done)
      if (bytesRead === 0) return null
      done += bytesRead
    }
    return { body, version: 'immutable', size }
  } finally {
    await fh.close()
  }
}

async function listFiles(dir: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const out: { path: string; size: number; mtimeMs: number }[] = []
  const walk = async (d: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile() && !e.name.endsWith('.tmp')) {
        const st = await stat(p).catch(() => null)
        if (st) out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs })
      }
    }
  }
  await walk(dir)
  return out
}
