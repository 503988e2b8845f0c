import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { DatabaseChecksum, PAGE_HASH_BYTES } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'
import { LOCK_PAGE_LEVEL, type ResolvedTable } from './chain.js'

/** Pages summed between two yields to the event loop. */
const PAGES_PER_SLICE = 4096

/**
 * The whole-database checksum of resolved table `t`, from the page hashes its manifests record
 * (see `DatabaseChecksum`). A read delivers a page only once its bytes match the recorded hash,
 * so this is what the delivered database adds up to: comparing it with the snapshot's checksum
 * checks the resolution (which level serves each page) without a term per page on the read
 * path. It yields to the event loop every few thousand pages, so it runs alongside a transfer
 * rather than before it, and it starts with a yield: the caller plans and issues its first reads
 * before any page is summed (a first slice of a cold export took about 10 ms).
 */
export async function resolvedChecksum(t: ResolvedTable): Promise<DatabaseChecksum> {
  const sum = new DatabaseChecksum()
  await yieldToLoop()
  for (let p = 1; p <= t.pageCount; p++) {
    const li = t.level[p - 1]!
    // Each hash read where its table holds it: no view per page.
    if (li !== LOCK_PAGE_LEVEL) sum.toggle(p as PageNo, t.levels[li]!.manifest.pages.hashes, t.entry[p - 1]! * PAGE_HASH_BYTES)
    if (p % PAGES_PER_SLICE === 0) await yieldToLoop()
  }
  return sum
}
