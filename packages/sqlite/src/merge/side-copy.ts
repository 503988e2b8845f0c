import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import type { OperationOptions, PageDiff, PageNo, Repository, ResolvedTable } from '@strata/core'
import { fetchPages } from '@strata/core/engine'

/**
 * Write snapshot `to` as a database file at `path` by copying `fromPath` — a file holding
 * exactly the pages of another snapshot — and rewriting only the pages `diff` (that snapshot
 * → `to`, from page tables) says differ, fetched from the store and checked against their
 * hashes, then cutting the file to `to`'s size. Header bytes 18/19 are set to 1 (rollback journal) so a connection opens the copy
 * without `-wal` or `-shm` files. Both tables must have the same page size. Returns the pages
 * fetched.
 */
export async function copyWithPatches(
  repo: Repository,
  fromPath: string,
  diff: Pick<PageDiff, 'changed' | 'added'>,
  to: ResolvedTable,
  path: string,
  opts: OperationOptions = {},
): Promise<number> {
  // A copy-on-write clone where the file system offers one (btrfs, XFS, APFS); a plain copy elsewhere.
  await copyFile(fromPath, path, constants.COPYFILE_FICLONE)
  const wanted: PageNo[] = [...diff.changed, ...diff.added]
  const size = to.pageSize
  const fd = openSync(path, 'r+')
  try {
    if (wanted.length > 0) {
      await fetchPages(to, (p, page) => void writeSync(fd, page, 0, size, (p - 1) * size), {
        concurrency: repo.options.concurrency,
        maxRunBytes: repo.options.maxRunBytes,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }, wanted)
    }
    ftruncateSync(fd, to.pageCount * size)
    writeSync(fd, Uint8Array.of(1, 1), 0, 2, 18)
  } finally {
    closeSync(fd)
  }
  return wanted.length
}
