import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { compareKeys as byteOrder } from '@strata/core'

/** A fauxqs S3 server listening on 127.0.0.1. */
export interface FauxqsServer {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string
  /** Stop listening and drop every connection and object. */
  stop(): Promise<void>
}

interface StoredObject {
  key: string
}

interface ListOptions {
  prefix?: string
  delimiter?: string
  maxKeys?: number
  startAfter?: string
  marker?: string
}

interface FauxqsS3StoreClass {
  new (): {
    buckets: Map<string, Map<string, StoredObject>>
    createBucket(name: string): void
    listObjects(bucket: string, options?: ListOptions): unknown
  }
}

/**
 * Start fauxqs (an in-process S3 emulator) with `buildApp()` on 127.0.0.1 and an ephemeral port —
 * never its `startFauxqs` helper, which listens on every interface.
 *
 * Its object store is patched to list in UTF-8 byte order, as S3 does: fauxqs 1.9.2 sorts keys with
 * `localeCompare` but pages with plain string comparison, so a paginated listing of mixed-case or
 * punctuated keys comes back out of order and silently skips keys.
 */
export async function startFauxqs(): Promise<FauxqsServer> {
  const { buildApp } = await import('fauxqs')
  const S3Store = await loadFauxqsS3Store()
  const s3Store = new (byteOrderListing(S3Store))()
  const app = buildApp({ logger: false, stores: { s3Store } as unknown as NonNullable<Parameters<typeof buildApp>[0]>['stores'] })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await app.close()
    },
  }
}

// fauxqs exports only its app; its S3 store class sits next to it in dist/.
async function loadFauxqsS3Store(): Promise<FauxqsS3StoreClass> {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'node_modules', 'fauxqs', 'dist', 's3', 's3Store.js')
    if (existsSync(candidate)) {
      const mod = (await import(pathToFileURL(candidate).href)) as { S3Store: FauxqsS3StoreClass }
      return mod.S3Store
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('fauxqs is not installed (looked for node_modules/fauxqs/dist/s3/s3Store.js)')
    dir = parent
  }
}

/** A bucket's objects, counting its changes, so that listings reuse one sort of its keys until the next change. */
class CountedMap<K, V> extends Map<K, V> {
  changes = 0
  override set(key: K, value: V): this {
    this.changes++
    return super.set(key, value)
  }
  override delete(key: K): boolean {
    this.changes++
    return super.delete(key)
  }
  override clear(): void {
    this.changes++
    super.clear()
  }
}

/** The index of the first of the ascending `keys` that sorts after `key` (`orEqual`: at or after it). */
function firstAfter(keys: readonly string[], key: string, orEqual: boolean): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = byteOrder(keys[mid]!, key)
    if (c > 0 || (orEqual && c === 0)) hi = mid
    else lo = mid + 1
  }
  return lo
}

/**
 * fauxqs's store, listing in UTF-8 byte order. A bucket's keys are sorted once per change of the
 * bucket, not once per page: a page is found by binary search (sorting 10,000 keys for each of a
 * listing's pages cost this server, in the process the S3 benches time, about 10 ms per page).
 */
function byteOrderListing(Base: FauxqsS3StoreClass): FauxqsS3StoreClass {
  return class extends Base {
    readonly #sorted = new WeakMap<Map<string, StoredObject>, { changes: number; keys: string[] }>()

    override createBucket(name: string): void {
      const fresh = !this.buckets.has(name)
      super.createBucket(name)
      if (fresh) this.buckets.set(name, new CountedMap<string, StoredObject>())
    }

    #sortedKeys(objects: Map<string, StoredObject>): string[] {
      const changes = objects instanceof CountedMap ? objects.changes : -1
      const cached = this.#sorted.get(objects)
      if (cached && changes >= 0 && cached.changes === changes) return cached.keys
      const keys = [...objects.keys()].sort(byteOrder)
      this.#sorted.set(objects, { changes, keys })
      return keys
    }

    override listObjects(bucket: string, options: ListOptions = {}): unknown {
      // Delegating an empty listing keeps fauxqs's own NoSuchBucket answer.
      const objects = this.buckets.get(bucket)
      if (!objects) return super.listObjects(bucket, options)
      const prefix = options.prefix ?? ''
      const delimiter = options.delimiter
      const maxKeys = options.maxKeys ?? 1000
      const after = options.startAfter ?? options.marker ?? ''
      const keys = this.#sortedKeys(objects)
      const result: StoredObject[] = []
      const commonPrefixes = new Set<string>()
      let isTruncated = false
      // The keys under a prefix are one run of the sorted keys; start at the prefix or after `after`.
      const from = Math.max(firstAfter(keys, prefix, true), after === '' ? 0 : firstAfter(keys, after, false))
      for (let i = from; i < keys.length && keys[i]!.startsWith(prefix); i++) {
        const object = objects.get(keys[i]!)
        if (object === undefined) continue
        let commonPrefix: string | undefined
        if (delimiter) {
          const at = object.key.indexOf(delimiter, prefix.length)
          if (at >= 0) commonPrefix = object.key.slice(0, at + delimiter.length)
        }
        if (commonPrefix !== undefined) {
          if ((after !== '' && byteOrder(commonPrefix, after) <= 0) || commonPrefixes.has(commonPrefix)) continue
        }
        if (result.length + commonPrefixes.size >= maxKeys) {
          isTruncated = true
          break
        }
        if (commonPrefix !== undefined) commonPrefixes.add(commonPrefix)
        else result.push(object)
      }
      return { objects: result, commonPrefixes: [...commonPrefixes].sort(byteOrder), isTruncated }
    }
  }
}
