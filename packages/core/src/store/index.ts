export type { ByteRange, GetOptions, GetResult, ObjectInfo, ObjectStore, PutOptions } from './object-store.js'
export { MAX_KEY_BYTES, validateKey, validatePrefix } from './keys.js'
export { LocalStore } from './local-store.js'
export type { LocalStoreOptions } from './local-store.js'
