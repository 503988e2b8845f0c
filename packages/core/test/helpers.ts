import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalStore } from '../src/store/local-store.js'
import { Repository, type RepositoryOptions } from '../src/repo/repository.js'

/** A fresh directory under the OS temp dir, removed by `cleanup`. */
export async function scratch(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-core-'))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** A new repository on a LocalStore in a fresh temp dir. */
export async function tempRepo(opts: RepositoryOptions = {}): Promise<{ repo: Repository; store: LocalStore; dir: string; cleanup: () => Promise<void> }> {
  const s = await scratch()
  const store = new LocalStore(join(s.dir, 'store'))
  const repo = await Repository.init(store, opts)
  return { repo, store, dir: s.dir, cleanup: s.cleanup }
}

/** A page of `size` bytes filled with `fill` (and its page number in the first 4 bytes when given). */
export function testPage(size: number, fill: number, pageNo?: number): Uint8Array {
  const page = new Uint8Array(size).fill(fill & 0xff)
  if (pageNo !== undefined) new DataView(page.buffer).setUint32(0, pageNo)
  return page
}

/**
 * Write a valid SQLite database header into page 1 (`bytes` holds whole pages): magic, page
 * size, payload fractions and a valid in-header page count. The rest stays as it is, so the
 * file passes import's checks without being a meaningful database.
 */
export function stampHeader(bytes: Uint8Array, pageSize: number): Uint8Array {
  const magic = new TextEncoder().encode('SQLite format 3\0')
  bytes.set(magic, 0)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  dv.setUint16(16, pageSize === 65536 ? 1 : pageSize)
  bytes[18] = 1
  bytes[19] = 1
  bytes[20] = 0
  bytes[21] = 64
  bytes[22] = 32
  bytes[23] = 32
  dv.setUint32(24, 7)
  dv.setUint32(28, bytes.byteLength / pageSize)
  dv.setUint32(92, 7)
  return bytes
}

/** A synthetic database of `pages` pages whose page p is filled with `fill(p)`. */
export function syntheticDb(pageSize: number, pages: number, fill: (p: number) => number = (p) => p): Uint8Array {
  const bytes = new Uint8Array(pageSize * pages)
  for (let p = 1; p <= pages; p++) bytes.set(testPage(pageSize, fill(p), p), (p - 1) * pageSize)
  return stampHeader(bytes, pageSize)
}

/** Write `bytes` to `dir/name` and return the path. */
export async function writeDb(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

/**
 * Whether `actual` holds exactly the bytes of `expected`; on a difference, a description of the
 * first differing page instead of `true` (vitest's deep equality is slow on MiB-sized arrays).
 */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, pageSize = 4096): true | string {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  if (a.equals(b)) return true
  if (a.length !== b.length) return `length ${a.length} ≠ ${b.length}`
  let i = 0
  while (a[i] === b[i]) i++
  return `first difference at byte ${i} (page ${Math.floor(i / pageSize) + 1})`
}
