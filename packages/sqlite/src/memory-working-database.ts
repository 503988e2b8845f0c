import Database from 'better-sqlite3'
import { type OperationOptions, type PageSize, type Repository, type Target } from '@strata/core'
import { readDatabase } from '@strata/core/engine'
import { formatBytesOf, prepareForDeserialize, setFormatBytes, type FormatBytes } from './header-mode.js'
import type { LiveDatabase } from './sqlite-types.js'
import { assertScannable, type PageVisitor, type ScanResult, type WorkingDatabase } from './working-database.js'

/**
 * Hydrate `target` into memory and open it: the whole database is read into one buffer and
 * deserialized. The image's WAL header bytes become rollback bytes first (SQLite cannot open an
 * in-memory image that says WAL); commits write the stored bytes back (see `header-mode.ts`).
 */
export async function hydrateMemory(repo: Repository, target: Target, opts: OperationOptions = {}): Promise<WorkingDatabase> {
  const image = await readDatabase(repo.ctx, target, opts)
  const storedFormat = formatBytesOf(image)
  const t = await repo.resolve(target.snapshot, target.branch)
  prepareForDeserialize(image)
  const db = new Database(Buffer.from(image.buffer, image.byteOffset, image.byteLength))
  // Until something reads page 1, PRAGMA page_size answers the default, not this database's.
  db.prepare('SELECT count(*) FROM sqlite_schema').get()
  return new MemoryWorkingDatabase(db, t.pageSize, storedFormat)
}

/** A live branch held in memory. */
class MemoryWorkingDatabase implements WorkingDatabase {
  readonly mode = 'memory' as const
  readonly path = null

  constructor(
    readonly db: LiveDatabase,
    readonly pageSize: PageSize,
    readonly storedFormat: FormatBytes,
  ) {}

  scan(visit: PageVisitor): ScanResult {
    assertScannable(this.db, this.pageSize, 'read the in-memory database')
    const image = this.db.serialize()
    const size = this.pageSize
    const pageCount = image.byteLength / size
    for (let p = 1; p <= pageCount; p++) {
      const page = image.subarray((p - 1) * size, p * size)
      if (p === 1) setFormatBytes(page, this.storedFormat)
      if (visit(p, page) === false) return { pageCount, complete: false }
    }
    return { pageCount, complete: true }
  }

  async dispose(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}
