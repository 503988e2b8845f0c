import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from '../store/object-store.js'
import type { StoreOperation } from './store-call.js'

/** What a {@link CountingStore} counted for one operation. */
export interface OperationCount {
  /** Calls made, successful or not. */
  calls: number
  /** Bytes returned by `get`, or sent by `put` (counted when called, even if the put then loses its condition). */
  bytes: number
  /** Objects found by get/head, written by put, yielded by list, named by delete. */
  objects: number
}

/** One call recorded by a {@link CountingStore}. */
export interface CountedCall {
  /** The operation. */
  operation: StoreOperation
  /** The key (list: the prefix; delete: one record per key). */
  key: string
  /** Bytes read or written by this call. */
  bytes: number
}

const OPERATIONS: readonly StoreOperation[] = ['get', 'head', 'put', 'list', 'delete']

/**
 * An `ObjectStore` wrapper that counts calls and bytes per operation and records every call,
 * e.g. to assert that creating a branch writes at most 2 KiB. Forwards everything unchanged,
 * including errors.
 */
export class CountingStore implements ObjectStore {
  /** Counts per operation since construction or the last {@link reset}. */
  readonly counts: Record<StoreOperation, OperationCount> = emptyCounts()
  /** Every call since construction or the last {@link reset}, in call order. */
  readonly log: CountedCall[] = []

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

  /** Total bytes returned by `get`. */
  get bytesRead(): number {
    return this.counts.get.bytes
  }

  /** Total bytes sent by `put`. */
  get bytesWritten(): number {
    return this.counts.put.bytes
  }

  /** Total calls of every operation. */
  get calls(): number {
    return OPERATIONS.reduce((sum, op) => sum + this.counts[op].calls, 0)
  }

  /** Keys passed to `put`, in call order. */
  get keysWritten(): string[] {
    return this.log.filter((c) => c.operation === 'put').map((c) => c.key)
  }

  /** Zero every count and clear the log. */
  reset(): void {
    Object.assign(this.counts, emptyCounts())
    this.log.length = 0
  }

  /** Forward to the inner store, counting the call and the bytes returned. */
  async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    this.counts.get.calls++
    const result = await this.inner.get(key, opts)
    const bytes = result?.body.length ?? 0
    this.counts.get.bytes += bytes
    if (result !== null) this.counts.get.objects++
    this.log.push({ operation: 'get', key, bytes })
    return result
  }

  /** Forward to the inner store, counting the call. */
  async head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    this.counts.head.calls++
    this.log.push({ operation: 'head', key, bytes: 0 })
    const info = await this.inner.head(key, opts)
    if (info !== null) this.counts.head.objects++
    return info
  }

  /** Forward to the inner store, counting the call and the bytes sent. */
  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    this.counts.put.calls++
    this.counts.put.bytes += body.length
    this.counts.put.objects++
    this.log.push({ operation: 'put', key, bytes: body.length })
    return this.inner.put(key, body, opts)
  }

  /** Forward to the inner store, counting the call and the objects yielded. */
  async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    this.counts.list.calls++
    this.log.push({ operation: 'list', key: prefix, bytes: 0 })
    for await (const info of this.inner.list(prefix, opts)) {
      this.counts.list.objects++
      yield info
    }
  }

  /** Forward to the inner store, counting the call and the keys named. */
  async delete(keys: readonly string[]): Promise<void> {
    this.counts.delete.calls++
    this.counts.delete.objects += keys.length
    for (const key of keys) this.log.push({ operation: 'delete', key, bytes: 0 })
    await this.inner.delete(keys)
  }

  /** Close the inner store, if it can be closed. */
  async close(): Promise<void> {
    await this.inner.close?.()
  }
}

function emptyCounts(): Record<StoreOperation, OperationCount> {
  const counts = {} as Record<StoreOperation, OperationCount>
  for (const op of OPERATIONS) counts[op] = { calls: 0, bytes: 0, objects: 0 }
  return counts
}
