import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from '../store/object-store.js'
import { callOf, type StoreCall } from './store-call.js'

/**
 * The base of test wrappers that act around each call of an inner store (inject faults, add
 * latency, trace, stop at a chosen call): every operation goes through {@link intercept}, which
 * decides whether, when and how to run the forwarded call. `list` is read whole inside the
 * interception, so a fault "after" a listing means after its last object.
 */
export abstract class InterceptingStore implements ObjectStore {
  /** Wrap `inner`. */
  constructor(readonly inner: ObjectStore) {}

  /** The wrapped store's URL. */
  get url(): string {
    return this.inner.url
  }

  /** The inner store's. */
  get listPageSize(): number | undefined {
    return this.inner.listPageSize
  }

  /** Run `forward` — the call to the inner store — for `call`: before, around or instead of it. */
  protected abstract intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T>

  /** Forward `get` through {@link intercept}. */
  get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    return this.intercept(callOf('get', key), () => this.inner.get(key, opts))
  }

  /** Forward `head` through {@link intercept}. */
  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    return this.intercept(callOf('head', key), () => this.inner.head(key, opts))
  }

  /** Forward `put` through {@link intercept}. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    return this.intercept(callOf('put', key), () => this.inner.put(key, body, opts))
  }

  /** Forward `list` through {@link intercept}, reading the inner listing whole. */
  async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    const items = await this.intercept(callOf('list', prefix), async () => {
      const out: ObjectInfo[] = []
      for await (const info of this.inner.list(prefix, opts)) out.push(info)
      return out
    })
    yield* items
  }

  /** Forward `delete` through {@link intercept}. */
  delete(keys: readonly string[]): Promise<void> {
    return this.intercept({ operation: 'delete', key: keys[0] ?? '', keys }, () => this.inner.delete(keys))
  }

  /** Close the inner store, if it can be closed. */
  async close(): Promise<void> {
    await this.inner.close?.()
  }
}
