import { UpgradeRequiredError } from '../../errors/index.js'
import { formatVersionString, FORMAT_VERSION, type FormatVersion } from '../../format/version.js'
import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from '../../store/object-store.js'

/**
 * A store written by an older format major, opened read-only: reads pass through, every write
 * throws `UpgradeRequiredError`. Writing the current format into it would mix two key layouts
 * (and an older Strata still writing there would not see the new one); `upgrade` converts it.
 */
export class LegacyFormatStore implements ObjectStore {
  /** Wrap `inner`, whose marker says `version`. */
  constructor(
    readonly inner: ObjectStore,
    readonly version: FormatVersion,
  ) {}

  /** The wrapped store's URL. */
  get url(): string {
    return this.inner.url
  }

  /** The inner store's. */
  get listPageSize(): number | undefined {
    return this.inner.listPageSize
  }

  /** Read through. */
  get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    return this.inner.get(key, opts)
  }

  /** Read through. */
  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | null> {
    return this.inner.head(key, opts)
  }

  /** Read through. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts)
  }

  /** Refused: `UpgradeRequiredError`. */
  put(key: string, _body: Uint8Array, _opts?: PutOptions): Promise<{ version: string }> {
    return Promise.reject(this.#refuse(`writing ${key}`))
  }

  /** Refused: `UpgradeRequiredError`. */
  delete(keys: readonly string[]): Promise<void> {
    return Promise.reject(this.#refuse(`deleting ${keys[0] ?? 'objects'}`))
  }

  /** Close the inner store, if it can be closed. */
  async close(): Promise<void> {
    await this.inner.close?.()
  }

  #refuse(operation: string): UpgradeRequiredError {
    return new UpgradeRequiredError({ store: this.inner.url, found: formatVersionString(this.version), current: formatVersionString(FORMAT_VERSION), operation })
  }
}

/** The store underneath a read-only legacy view, or `store` itself. */
export function writableStore(store: ObjectStore): ObjectStore {
  return store instanceof LegacyFormatStore ? store.inner : store
}
