/**
 * An async mutex per string key. `lock(keys)` resolves once every key is held, in FIFO order per
 * key, and returns the function that releases them all. Keys are taken in sorted order, so two
 * callers locking overlapping sets cannot deadlock.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>()

  /** Wait for every key in `keys` (duplicates allowed), then hold them until the returned release is called. */
  async lock(keys: Iterable<string>): Promise<() => void> {
    const releases: Array<() => void> = []
    for (const key of [...new Set(keys)].sort()) releases.push(await this.#lockOne(key))
    let released = false
    return () => {
      if (released) return
      released = true
      for (const release of releases.reverse()) release()
    }
  }

  /** How many keys are held or waited for right now (for tests and leak checks). */
  get size(): number {
    return this.#tails.size
  }

  async #lockOne(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const tail = previous.then(() => mine)
    this.#tails.set(key, tail)
    await previous
    return () => {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }
}
