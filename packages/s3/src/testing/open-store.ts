import type { ObjectStore } from '@strata/core'
import { S3Store, type S3StoreOptions } from '../s3-store.js'

/** What a child process needs to open the same S3 store as its parent: JSON-serialisable. */
export interface S3ChildStoreArg {
  url: string
  options: S3StoreOptions
}

/**
 * Open the store described by `arg` (an {@link S3ChildStoreArg}). This module is the `child.module`
 * of S3 conformance fixtures: child processes import it to race the parent on the same store.
 */
export async function openStore(arg: unknown): Promise<ObjectStore> {
  const { url, options } = arg as S3ChildStoreArg
  return S3Store.fromUrl(url, options)
}
