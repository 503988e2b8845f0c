import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * A synthetic database of `pages` pages of `pageSize` bytes with a valid SQLite header (page p
 * filled with a pattern of p), enough for import's checks; Strata never interprets page contents.
 */
export function syntheticDb(pageSize: number, pages: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(pageSize * pages)
  for (let p = 1; p <= pages; p++) {
    const page = bytes.subarray((p - 1) * pageSize, p * pageSize)
    page.fill((p * 13 + seed) & 0xff)
    new DataView(page.buffer, page.byteOffset).setUint32(0, p)
  }
  bytes.set(new TextEncoder().encode('SQLite format 3\0'), 0)
  const dv = new DataView(bytes.buffer)
  dv.setUint16(16, pageSize === 65536 ? 1 : pageSize)
  bytes.set([1, 1, 0, 64, 32, 32], 18)
  dv.setUint32(24, 7)
  dv.setUint32(28, pages)
  dv.setUint32(92, 7)
  return bytes
}

/** Write `bytes` to `dir/name` and return the path. */
export async function writeDb(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

/** `base` with `writes` applied (page number → image). */
export function applyWrites(base: Uint8Array, pageSize: number, writes: Iterable<readonly [number, Uint8Array]>): Uint8Array {
  const out = new Uint8Array(base)
  for (const [p, page] of writes) out.set(page, (p - 1) * pageSize)
  return out
}
