import { StoreError, type GetOptions, type GetResult, type ObjectInfo, type ObjectStore, type PutOptions } from '@strata/core'

/**
 * A store that fails a fraction of calls at random with a retryable `StoreError` — half of them
 * before the call reaches the inner store, half after it did its work (a lost answer), like a
 * throttling or flaky network. Counts what it injected.
 */
export class FlakyStore implements ObjectStore {
  injected = { before: 0, after: 0 }

  constructor(
    readonly inner: ObjectStore,
    readonly rate: number,
  ) {}

  get url(): string {
    return this.inner.url
  }

  async #call<T>(operation: string, key: string, forward: () => Promise<T>): Promise<T> {
    const fail = Math.random() < this.rate
    const after = Math.random() < 0.5
    const error = (): StoreError =>
      new StoreError({ operation, key, store: this.url, retryable: true }, { cause: new Error(`injected flaky failure (${after ? 'after' : 'before'} the ${operation})`) })
    if (fail && !after) {
      this.injected.before++
      throw error()
    }
    const result = await forward()
    if (fail) {
      this.injected.after++
      throw error()
    }
    return result
  }

  get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    return this.#call('get', key, () => this.inner.get(key, opts))
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    return this.#call('head', key, () => this.inner.head(key, opts))
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    return this.#call('put', key, () => this.inner.put(key, body, opts))
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    const items = await this.#call('list', prefix, async () => {
      const out: ObjectInfo[] = []
      for await (const info of this.inner.list(prefix, opts)) out.push(info)
      return out
    })
    yield* items
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.#call('delete', keys[0] ?? '', () => this.inner.delete(keys))
  }
}
