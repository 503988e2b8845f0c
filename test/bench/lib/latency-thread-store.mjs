// The bench's latency store, for the lazy fetcher thread (plain JavaScript: the thread imports
// it without a TypeScript loader): a local store whose every request waits `delayMs` first.
import { setTimeout as sleep } from 'node:timers/promises'
import { LocalStore } from '@strata/core'
import { InterceptingStore } from '@strata/core/testing'

class LatencyThreadStore extends InterceptingStore {
  constructor(root, delayMs, log) {
    super(new LocalStore(root))
    this.delayMs = delayMs
    this.log = log
  }

  async intercept(call, forward) {
    const start = performance.timeOrigin + performance.now()
    await sleep(this.delayMs)
    const result = await forward()
    if (this.log) recordRequest(this.log, start, performance.timeOrigin + performance.now())
    return result
  }
}

/**
 * Record a request's start and end (epoch ms) into `log`, a SharedArrayBuffer the bench reads:
 * an Int32 count at byte 0, then (start, end) Float64 pairs from byte 8. Full logs drop requests.
 */
function recordRequest(log, start, end) {
  const i = Atomics.add(new Int32Array(log, 0, 1), 0, 1)
  const times = new Float64Array(log, 8)
  if (2 * i + 1 < times.length) {
    times[2 * i] = start
    times[2 * i + 1] = end
  }
}

/** A local store at `root` with `delayMs` of latency per request, recording each in `log` if given. */
export function openLatencyStore(root, delayMs, log) {
  return new LatencyThreadStore(root, delayMs, log)
}
