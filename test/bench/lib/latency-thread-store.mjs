// The bench's latency store, for the lazy fetcher thread (plain JavaScript: the thread imports
// it without a TypeScript loader): a local store whose every request waits `delayMs` first.
import { setTimeout as sleep } from 'node:timers/promises'
import { LocalStore } from '@strata/core'
import { InterceptingStore } from '@strata/core/testing'

class LatencyThreadStore extends InterceptingStore {
  constructor(root, delayMs) {
    super(new LocalStore(root))
    this.delayMs = delayMs
  }

  async intercept(call, forward) {
    await sleep(this.delayMs)
    return forward()
  }
}

/** A local store at `root` with `delayMs` of latency per request. */
export function openLatencyStore(root, delayMs) {
  return new LatencyThreadStore(root, delayMs)
}
