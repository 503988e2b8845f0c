import type { ObjectStore } from '@strata/core'
import { InterceptingStore, type StoreCall } from '@strata/core/testing'

/** A store call as the crash harness names it: operation and the key's first segment, e.g. `put segments/`. */
export function callGroup(operation: string, key: string): string {
  const slash = key.indexOf('/')
  return `${operation} ${slash < 0 ? key : key.slice(0, slash + 1)}`
}

/** Where a crash trial kills the writer, relative to the nth call of a group. */
export interface KillPoint {
  group: string
  /** 1-based occurrence of the group in the operation's calls. */
  nth: number
  /**
   * `before`: the call has not reached the store (the writer waits there to be killed).
   * `during`: the call is running in the store when the kill is sent.
   * `after`: the call completed and nothing else happened yet (the writer waits there).
   */
  mode: 'before' | 'during' | 'after'
}

/** Events the tracing store reports, one line each: `S n group key`, `I n`, `D n`. */
export type TraceSink = (line: string) => void

/**
 * An `ObjectStore` wrapper that reports each call as it starts (`S`), reaches the inner store
 * (`I`) and completes (`D`), and that stops dead at a {@link KillPoint} (`before` or `after`) so the
 * parent's SIGKILL lands exactly there.
 */
export class TracingStore extends InterceptingStore {
  #n = 0
  readonly #seen = new Map<string, number>()

  /** Wrap `inner`; report calls to `sink`; stop dead at `stopAt`, calling `onStop` first. */
  constructor(
    inner: ObjectStore,
    readonly sink: TraceSink,
    readonly stopAt: KillPoint | null = null,
    readonly onStop: () => void = () => {},
  ) {
    super(inner)
  }

  protected async intercept<T>({ operation, key }: StoreCall, forward: () => Promise<T>): Promise<T> {
    const n = ++this.#n
    const group = callGroup(operation, key)
    const nth = (this.#seen.get(group) ?? 0) + 1
    this.#seen.set(group, nth)
    const here = this.stopAt !== null && this.stopAt.group === group && this.stopAt.nth === nth
    this.sink(`S ${n} ${group} ${key}`)
    if (here && this.stopAt!.mode === 'before') await this.#stop()
    this.sink(`I ${n}`)
    const result = await forward()
    this.sink(`D ${n}`)
    if (here && this.stopAt!.mode === 'after') await this.#stop()
    return result
  }

  #stop(): Promise<never> {
    this.sink('STOP')
    this.onStop()
    return stall()
  }
}

/** Wait to be killed (a minute is far longer than any trial takes to send the signal). */
function stall(): Promise<never> {
  return new Promise(() => setTimeout(() => process.exit(3), 60_000))
}
