import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { encodeName, exportSnapshot, type OperationOptions, type PageSize, type Repository, type Target } from '@strata/core'
import { InvalidStateError } from './errors/index.js'
import { formatBytesOf, isWalFormat, setFormatBytes, type FormatBytes } from './header-mode.js'
import type { LiveDatabase } from './sqlite-types.js'
import { assertScannable, scanPragma, type PageVisitor, type ScanResult, type WorkingDatabase } from './working-database.js'

/** Bytes read per system call while scanning the working file. */
const SCAN_CHUNK_BYTES = 1024 * 1024

/**
 * Hydrate `target` into a new working file in `dir` (streamed through export, so the database
 * may be larger than memory) and open it. The file keeps the stored journal mode: a database
 * stored in WAL mode runs in WAL mode, any other runs with `journal_mode=DELETE`. Switching a
 * rollback database to WAL would rewrite header fields of page 1 (change counter), so every
 * session would look changed.
 */
export async function hydrateFile(repo: Repository, target: Target, dir: string, opts: OperationOptions = {}): Promise<WorkingDatabase> {
  await mkdir(dir, { recursive: true })
  const stem = target.branch ? encodeName(target.branch) : target.snapshot
  const path = join(dir, `${stem}.${randomBytes(6).toString('hex')}.sqlite`)
  const result = await exportSnapshot(repo, target, path, opts)
  try {
    const header = new Uint8Array(100)
    const fh = await open(path, 'r')
    try {
      await fh.read(header, 0, header.byteLength, 0)
    } finally {
      await fh.close()
    }
    const storedFormat = formatBytesOf(header)
    const db = new Database(path, { fileMustExist: true })
    try {
      db.pragma(isWalFormat(storedFormat) ? 'journal_mode = WAL' : 'journal_mode = DELETE')
    } catch (e) {
      db.close()
      throw e
    }
    return new FileWorkingDatabase(db, path, result.pageSize as PageSize, storedFormat)
  } catch (e) {
    await removeWorkingFile(path)
    throw e
  }
}

/** A live branch's working file. */
class FileWorkingDatabase implements WorkingDatabase {
  readonly mode = 'file' as const

  constructor(
    readonly db: LiveDatabase,
    readonly path: string,
    readonly pageSize: PageSize,
    readonly storedFormat: FormatBytes,
  ) {}

  scan(visit: PageVisitor): ScanResult {
    if (!this.db.open) return this.#scanClosed(visit)
    assertScannable(this.db, this.pageSize, 'read the working database')
    const operation = 'read the working database'
    if (scanPragma(this.db, 'journal_mode', operation) === 'wal') {
      // The main file alone is stale until every WAL frame is copied back into it.
      const row = (scanPragma(this.db, 'wal_checkpoint(TRUNCATE)', operation, false) as { busy: number }[])[0]
      if (!row || row.busy !== 0) {
        throw new InvalidStateError({ operation: 'read the working database', reason: 'the WAL checkpoint could not complete (a reader holds it); finish open statements first' })
      }
    }
    return this.#read(scanPragma(this.db, 'page_count', operation) as number, visit)
  }

  /** The connection was closed outside the handle: closing checkpointed, so the file is whole. */
  #scanClosed(visit: PageVisitor): ScanResult {
    const operation = 'read the working database'
    const wal = statSync(this.path + '-wal', { throwIfNoEntry: false })
    if (wal && wal.size > 0) throw new InvalidStateError({ operation, reason: `the connection was closed outside the handle and left an un-checkpointed WAL (${this.path}-wal)` })
    const journal = statSync(this.path + '-journal', { throwIfNoEntry: false })
    if (journal && journal.size > 0) throw new InvalidStateError({ operation, reason: `the connection was closed outside the handle and left a hot journal (${this.path}-journal)` })
    const { size } = statSync(this.path)
    if (size % this.pageSize !== 0) throw new InvalidStateError({ operation, reason: `the working file is not a whole number of ${this.pageSize}-byte pages` })
    return this.#read(size / this.pageSize, visit)
  }

  #read(pageCount: number, visit: PageVisitor): ScanResult {
    const size = this.pageSize
    const chunkPages = Math.max(1, Math.floor(SCAN_CHUNK_BYTES / size))
    const buf = new Uint8Array(chunkPages * size)
    const fd = openSync(this.path, 'r')
    try {
      for (let first = 1; first <= pageCount; first += chunkPages) {
        const n = Math.min(chunkPages, pageCount - first + 1)
        let got = 0
        while (got < n * size) {
          const r = readSync(fd, buf, got, n * size - got, (first - 1) * size + got)
          if (r === 0) {
            throw new InvalidStateError({ operation: 'read the working database', reason: `the working file ${this.path} is shorter than its ${pageCount} pages` })
          }
          got += r
        }
        for (let i = 0; i < n; i++) {
          const page = buf.subarray(i * size, (i + 1) * size)
          if (first + i === 1) setFormatBytes(page, this.storedFormat)
          if (visit(first + i, page) === false) return { pageCount, complete: false }
        }
      }
    } finally {
      closeSync(fd)
    }
    return { pageCount, complete: true }
  }

  async dispose(): Promise<void> {
    if (this.db.open) this.db.close()
    await removeWorkingFile(this.path)
  }
}

/** Remove a working file and the side files SQLite may have left next to it. */
async function removeWorkingFile(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(path + s, { force: true })))
}
