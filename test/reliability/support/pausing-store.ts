import type { ObjectStore } from '@strata/core'
import { InterceptingStore, type StoreCall } from '@strata/core/testing'

/** A point to stop at: the first call matching `match`, before it reaches the store or after it returned. */
export interface PausePoint {
  match: (call: StoreCall) => boolean
  when?: 'before' | 'after'
}

/** A pause that was armed: `reached` settles when a call stops there; `release` lets it go on. */
export interface Pause {
  reached: Promise<StoreCall>
  release(): void
}

/**
 * A store that stops the first call matching an armed point until the test releases it, so that
 * one side of a race can be held at its dangerous moment while the other side runs. Every other
 * call, and every call after the release, is forwarded unchanged.
 */
export class PausingStore extends InterceptingStore {
  #points: { point: PausePoint; reached: (c: StoreCall) => void; gate: Promise<void> }[] = []

  constructor(inner: ObjectStore) {
    super(inner)
  }

  /** Arm a pause at `point`. */
  pauseAt(point: PausePoint): Pause {
    let reached!: (c: StoreCall) => void
    let release!: () => void
    const reachedP = new Promise<StoreCall>((r) => (reached = r))
    const gate = new Promise<void>((r) => (release = r))
    this.#points.push({ point, reached, gate })
    return { reached: reachedP, release }
  }

  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    const i = this.#points.findIndex((p) => p.point.match(call))
    if (i < 0) return forward()
    const [p] = this.#points.splice(i, 1)
    if (p!.point.when === 'after') {
      const result = await forward()
      p!.reached(call)
      await p!.gate
      return result
    }
    p!.reached(call)
    await p!.gate
    return forward()
  }
}

/** A call that writes `key` (a put of it, or a delete naming it). */
export const writes =
  (key: string) =>
  (c: StoreCall): boolean =>
    (c.operation === 'put' || c.operation === 'delete') && c.keys.includes(key)
