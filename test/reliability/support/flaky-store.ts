import { StoreError, type ObjectStore } from '@strata/core'
import { InterceptingStore, type StoreCall } from '@strata/core/testing'

/**
 * A store that fails a fraction of calls at random with a retryable `StoreError` — half of them
 * before the call reaches the inner store, half after it did its work (a lost answer), like a
 * throttling or flaky network. Counts what it injected.
 */
export class FlakyStore extends InterceptingStore {
  injected = { before: 0, after: 0 }

  constructor(
    inner: ObjectStore,
    readonly rate: number,
  ) {
    super(inner)
  }

  protected async intercept<T>({ operation, key }: StoreCall, forward: () => Promise<T>): Promise<T> {
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
}
