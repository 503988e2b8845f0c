import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'

/**
 * The default root for working files: `$XDG_CACHE_HOME/strata` when that variable holds an
 * absolute path, else `<os temp dir>/strata`. Working files live in `<root>/<storeId>/`.
 */
export function defaultCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME
  return xdg && isAbsolute(xdg) ? join(xdg, 'strata') : join(tmpdir(), 'strata')
}

/** The directory holding the working files of the repository with identity `storeId`. */
export function workingDirectory(root: string, storeId: string): string {
  return join(root, storeId)
}
