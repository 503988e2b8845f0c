/** The five operations of an `ObjectStore`. */
export type StoreOperation = 'get' | 'head' | 'put' | 'list' | 'delete'

/** One call to a store, as the testing wrappers see it. */
export interface StoreCall {
  /** Which operation was called. */
  operation: StoreOperation
  /** The key; for `list` the prefix; for `delete` the first key (or `''` for none). */
  key: string
  /** Every key the call names: one for get/head/put, the prefix for list, all keys for delete. */
  keys: readonly string[]
}

/** Build the {@link StoreCall} of a single-key operation. */
export function callOf(operation: StoreOperation, key: string): StoreCall {
  return { operation, key, keys: [key] }
}
