import type { ObjectStore } from '../store/object-store.js'

/**
 * Every object under `prefix` as sorted text, one `key size` line per object, for inline
 * snapshots in tests. An empty store dumps as `''`.
 */
export async function dumpStore(store: ObjectStore, prefix = ''): Promise<string> {
  const lines: string[] = []
  for await (const info of store.list(prefix)) lines.push(`${info.key} ${info.size}`)
  return lines.sort().join('\n')
}
