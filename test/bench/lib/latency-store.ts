import { setTimeout as sleep } from 'node:timers/promises'
import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from '@strata/core'

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
    /** Told each request's start and end (epoch ms) once it is answered. */
    readonly onRequest?: (start: number, end: number) => void,
  ) {}

  get url(): string {
    return this.inner.url
  }

  /** The inner store's. */
  get listPageSize(): number | undefined {
    return this.inner.listPageSize
  }

  async #timed<T>(call: () => Promise<T>): Promise<T> {
    this.requests++
    const start = performance.timeOrigin + performance.now()
    if (this.delayMs > 0) await sleep(this.delayMs)
    const result = await call()
    this.onRequest?.(start, performance.timeOrigin + performance.now())
    return result
  }

  get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    return this.#timed(() => this.inner.get(key, opts))
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    return this.#timed(() => this.inner.head(key, opts))
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ version: string }> {
    return this.#timed(() => this.inner.put(key, body, opts))
  }

  async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    const all = await this.#timed(async () => {
      const out: ObjectInfo[] = []
      for await (const o of this.inner.list(prefix, opts)) out.push(o)
      return out
    })
    yield* all
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.#timed(() => this.inner.delete(keys))
  }
}

/** A request's start and end, epoch milliseconds. */
export interface TimedRequest {
  start: number
  end: number
}

/**
 * The dependent round trips of a set of requests: the longest chain in which each request
 * started after the one before it was answered (any request may depend on one that finished
 * before it began — an upper bound, exact for one query's critical path). Requests that
 * overlap count once.
 */
export function dependentRoundTrips(requests: readonly TimedRequest[]): number {
  const sorted = [...requests].sort((a, b) => a.start - b.start)
  const depth: number[] = []
  let longest = 0
  for (let i = 0; i < sorted.length; i++) {
    let d = 1
    for (let j = 0; j < i; j++) if (sorted[j]!.end <= sorted[i]!.start) d = Math.max(d, depth[j]! + 1)
    depth.push(d)
    longest = Math.max(longest, d)
  }
  return longest
}

/** A request log the fetcher thread's latency store writes into (see latency-thread-store.mjs). */
export class SharedRequestLog {
  readonly buffer = new SharedArrayBuffer(8 + 16 * 4096)

  /** Forget every request recorded so far. */
  clear(): void {
    Atomics.store(new Int32Array(this.buffer, 0, 1), 0, 0)
  }

  /** The requests recorded since the last {@link clear}. */
  requests(): TimedRequest[] {
    const n = Math.min(Atomics.load(new Int32Array(this.buffer, 0, 1), 0), 4096)
    const t = new Float64Array(this.buffer, 8)
    return Array.from({ length: n }, (_, i) => ({ start: t[2 * i]!, end: t[2 * i + 1]! }))
  }
}
