// The process the upgrade crash test kills. It runs `upgrade` on several prepared local stores at
// once (independent trials sharing one process start-up). A trial with a stop point holds still at
// its store call number `stopAt` — before that call reaches the store, or once it has completed —
// while the others go on; when every trial has stopped or finished, the process SIGKILLs itself,
// so whatever the stopped trials (and their calls still in flight) had under way dies with it. A
// trial without a stop point runs until the parent's SIGKILL lands at a random moment.
import { writeSync } from 'node:fs'
import { LocalStore, Repository } from '@strata/core'
import { InterceptingStore, type StoreCall } from '@strata/core/testing'

interface Arg {
  trials: { dir: string; stopAt: number | null; after: boolean; startAfterMs: number }[]
}

/** Holds still at call `stopAt` (after forwarding it, when `after`). */
class StopAt extends InterceptingStore {
  #calls = 0
  constructor(
    inner: LocalStore,
    readonly stopAt: number | null,
    readonly after: boolean,
    readonly onStop: () => void,
  ) {
    super(inner)
  }
  protected async intercept<T>(_call: StoreCall, forward: () => Promise<T>): Promise<T> {
    const n = this.#calls++
    if (this.stopAt === null || n < this.stopAt) return forward()
    if (n === this.stopAt) {
      if (this.after) await forward()
      this.onStop()
    }
    return new Promise<T>(() => {})
  }
}

const arg = JSON.parse(process.argv[2]!) as Arg
let pending = arg.trials.length
const settled = (): void => {
  if (--pending === 0 && arg.trials.every((t) => t.stopAt !== null)) process.kill(process.pid, 'SIGKILL')
}
writeSync(1, 'go\n')
await Promise.all(
  arg.trials.map(async (t) => {
    if (t.startAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, t.startAfterMs))
    await Repository.upgrade(new StopAt(new LocalStore(t.dir), t.stopAt, t.after, settled))
    settled()
  }),
)
// Every trial finished before its kill: wait for the parent's.
setInterval(() => {}, 1 << 30)
