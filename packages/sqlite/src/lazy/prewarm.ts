import { ENTRY_POINT, extensionPath } from '@strata/vfs'
import { fetcherThread } from './fetcher-thread.js'

/**
 * Start the process's lazy fetcher thread now, if the VFS extension is built; errors surface at
 * the first lazy open (which falls back to a full working file when the extension cannot load).
 * Idempotent. `openBranch(…, { mode: 'lazy' })` does this itself as it starts; a program that
 * knows it will open a branch lazily can call it earlier, so that the thread starts (a new
 * JavaScript isolate: tens of milliseconds) while the program does other work.
 *
 * This module loads neither better-sqlite3 nor `@strata/core`: imported on its own (as
 * `@strata/sqlite/prewarm`) it starts the thread before the rest of the program is even loaded.
 */
export function prewarmLazy(): void {
  const path = extensionPath()
  if (path) fetcherThread(path, ENTRY_POINT).catch(() => {})
}
