import fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** A temporary directory and the way to remove it. */
export interface TempDir {
  /** Absolute path of the new, empty directory. */
  readonly path: string
  /** Remove the directory and everything in it. Idempotent. */
  cleanup(): Promise<void>
}

/** Create a fresh empty directory under the OS temp directory, named `<prefix>XXXXXX`. */
export async function tempDir(prefix = 'strata-test-'): Promise<TempDir> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), prefix))
  return {
    path: dir,
    cleanup: () => fs.rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  }
}
