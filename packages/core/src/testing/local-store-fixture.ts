import { fileURLToPath } from 'node:url'
import { LocalStore } from '../store/local-store.js'
import type { LocalStoreOptions } from '../store/local-store.js'
import type { StoreFixture } from './describe-object-store.js'
import type { LocalStoreChildArg } from './open-local-store.js'
import { tempDir } from './temp-dir.js'

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/**
 * A {@link LocalStore} in a fresh temporary directory, as a {@link StoreFixture}: `cleanup`
 * removes the directory, and `child` lets other processes open the same store.
 */
export async function localStoreFixture(options?: LocalStoreOptions): Promise<StoreFixture & { store: LocalStore }> {
  const dir = await tempDir('strata-store-')
  const store = await LocalStore.open(dir.path, options)
  const arg: LocalStoreChildArg = options === undefined ? { root: dir.path } : { root: dir.path, options }
  return {
    store,
    cleanup: dir.cleanup,
    child: { module: fileURLToPath(new URL(`./open-local-store${extension}`, import.meta.url)), arg },
  }
}
