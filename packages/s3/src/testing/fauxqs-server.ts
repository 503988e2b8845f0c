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

function byteOrderListing(Base: FauxqsS3StoreClass): FauxqsS3StoreClass {
  return class extends Base {
    override listObjects(bucket: string, options: ListOptions = {}): unknown {
      // Delegating an empty listing keeps fauxqs's own NoSuchBucket answer.
      const objects = this.buckets.get(bucket)
      if (!objects) return super.listObjects(bucket, options)
      const prefix = options.prefix ?? ''
      const delimiter = options.delimiter
      const maxKeys = options.maxKeys ?? 1000
      const after = options.startAfter ?? options.marker ?? ''
      const sorted = [...objects.values()].filter((o) => o.key.startsWith(prefix)).sort((a, b) => byteOrder(a.key, b.key))
      const result: StoredObject[] = []
      const commonPrefixes = new Set<string>()
      let isTruncated = false
      for (const object of sorted) {
        if (after !== '' && byteOrder(object.key, after) <= 0) continue
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
