import { setTimeout as sleep } from 'node:timers/promises'
import type { GetOptions, GetResult, ObjectInfo, ObjectStore, PutOptions } from '@strata/core'

/**
 * A store wrapper that adds a fixed delay to every request, like a remote store's round trip:
 * requests in flight at once overlap their delays, as they would on a network.
 */
export class LatencyStore implements ObjectStore {
  /** Requests made. */
  requests = 0

  constructor(
    readonly inner: ObjectStore,
    readonly delayMs: number,
  ) {}

  get url(): string {
    return this.inner.url
  }

  async #wait(): Promise<void> {
    this.requests++
    if (this.delayMs > 0) await sleep(this.delayMs)
  }

  async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    await this.#wait()
    return this.inner.get(key, opts)
  }

  async head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    await this.#wait()
    return this.inner.head(key, opts)
  }

  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    await this.#wait()
    return this.inner.put(key, body, opts)
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    await this.#wait()
    yield* this.inner.list(prefix, opts)
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.#wait()
    await this.inner.delete(keys)
  }
}
