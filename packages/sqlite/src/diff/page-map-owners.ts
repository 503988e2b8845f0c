import Database from 'better-sqlite3'
import type { OperationOptions, PageRange, Repository, Target } from '@strata/core'
import { defaultCacheRoot } from '../cache-dir.js'
import { repositoryWithCache, type SegmentCacheOption } from '../segment-cache.js'
import { freelist } from './changed-owners.js'
import { dbstatOwners, type OwnerType } from './page-owners.js'
import { PageSource } from './page-source.js'
import { SideFiles, type SideMode } from './side-files.js'

/** A run of pages served by one snapshot and owned by one table, index or structure. */
export interface OwnedPageRange extends PageRange {
  /** Table or index name, `sqlite_schema`, `(freelist)` or `(other)`. */
  owner: string
  ownerType: OwnerType
}

/** Options of {@link pageMapWithOwners}. */
export interface PageMapOwnersOptions extends OperationOptions {
  /** Where the export goes (removed afterwards). Default: the OS temp directory. */
  workDir?: string
  /** The local segment cache the export reads through (see `DiffOptions.segmentCache`). */
  segmentCache?: SegmentCacheOption
  /** Root of the segment cache. Default: as for live branches. */
  cacheDir?: string
  /** `file` (default) exports the database; `lazy` serves its pages on demand (see `DiffOptions.mode`). */
  mode?: SideMode
}

/**
 * `repo.pageMap(spec)` with each run split further by the table or index that owns its pages:
 * which snapshot (and store) serves each page range, and what SQLite keeps there. Exports the
 * branch or snapshot once to a temporary file and reads `dbstat` on it, so it costs a full
 * download; `repo.pageMap` alone reads manifests only.
 */
export async function pageMapWithOwners(repo: Repository, spec: string, opts: PageMapOwnersOptions = {}): Promise<{ target: Target; pageCount: number; ranges: OwnedPageRange[] }> {
  const map = await repo.pageMap(spec)
  const files = await SideFiles.create(opts.workDir, opts.mode ?? 'file')
  let db: Database.Database | null = null
  try {
    const source = await repositoryWithCache(repo, opts.segmentCache, opts.cacheDir ?? defaultCacheRoot())
    const side = await files.write(source, map.target, 'map', opts.signal ? { signal: opts.signal } : {})
    db = new Database(side.path, { readonly: true, fileMustExist: true })
    files.guard(db)
    const owners = dbstatOwners(db, 'main', await freelist(new PageSource(side)))
    const ranges: OwnedPageRange[] = []
    for (const r of map.ranges) {
      for (let p = r.from; p <= r.to; p++) {
        const n = owners.owner[p - 1]!
        const last = ranges[ranges.length - 1]
        if (last && last.to === p - 1 && last.depth === r.depth && last.snapshot === r.snapshot && last.owner === owners.names[n]) {
          last.to = p
        } else {
          ranges.push({ ...r, from: p, to: p, owner: owners.names[n]!, ownerType: owners.types[n]! })
        }
      }
    }
    return { target: map.target, pageCount: map.pageCount, ranges }
  } finally {
    db?.close()
    await files.dispose()
  }
}
