import { LocalStore } from '../store/local-store.js'
import type { LocalStoreOptions } from '../store/local-store.js'
import type { ObjectStore } from '../store/object-store.js'

/** The argument a child process gets to open the same {@link LocalStore} as its parent. */
export interface LocalStoreChildArg {
  /** Root directory of the store. */
  root: string
  /** Options the parent opened it with. */
  options?: LocalStoreOptions
}

/** Open the local store described by `arg`; the `child.module` entry point of local-store fixtures. */
export async function openStore(arg: LocalStoreChildArg): Promise<ObjectStore> {
  return LocalStore.open(arg.root, arg.options)
}
