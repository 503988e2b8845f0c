/** A small least-recently-used map bounded by a total weight. */
export class Lru<K, V> {
  readonly #map = new Map<K, { value: V; weight: number }>()
  #weight = 0

  constructor(
    readonly maxWeight: number,
    readonly weigh: (v: V) => number = () => 1,
  ) {}

  /** The value for `key`, marking it most recently used. */
  get(key: K): V | undefined {
    const e = this.#map.get(key)
    if (!e) return undefined
    this.#map.delete(key)
    this.#map.set(key, e)
    return e.value
  }

  /** Store `value`, evicting the least recently used entries beyond the weight bound. */
  set(key: K, value: V): void {
    const old = this.#map.get(key)
    if (old) {
      this.#weight -= old.weight
      this.#map.delete(key)
    }
    const weight = this.weigh(value)
    this.#map.set(key, { value, weight })
    this.#weight += weight
    for (const [k, e] of this.#map) {
      if (this.#weight <= this.maxWeight || this.#map.size <= 1) break
      this.#map.delete(k)
      this.#weight -= e.weight
    }
  }

  /** Forget `key`. */
  delete(key: K): void {
    const e = this.#map.get(key)
    if (!e) return
    this.#map.delete(key)
    this.#weight -= e.weight
  }

  /** Forget everything. */
  clear(): void {
    this.#map.clear()
    this.#weight = 0
  }
}
