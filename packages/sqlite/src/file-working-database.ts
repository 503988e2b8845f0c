import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { type OperationOptions, type PageSize, type Repository, type Target } from '@strata/core'
import { encodeName, exportSnapshot, fileErrorFrom, makeDirectory } from '@strata/core/engine'
import { InvalidStateError } from './errors/index.js'
import { formatBytesOf, setFormatBytes, type FormatBytes } from './header-mode.js'
import type { LiveDatabase } from './sqlite-types.js'
import type { LazyFile } from './lazy/lazy-file.js'
import { readFully } from './wal-file.js'
import { assertScannable, scanPragma, type PageVisitor, type ScanResult, type WorkingDatabase } from './working-database.js'

/** Bytes read per system call while scanning the working file. */
const SCAN_CHUNK_BYTES = 1024 * 1024

/**
 * Hydrate `target` into a new working file in `dir` (streamed through export, so the database
 * may be larger than memory) and open it in WAL mode with automatic checkpoints off, so that a
 * change tracker can read the changed pages from the WAL (see `wal-tracker.ts`).
 *
 * A database stored with a rollback journal gets header bytes 18/19 set to 2 (WAL) in the local
 * file before SQLite opens it: SQLite then simply runs in WAL mode. Switching with
 * `PRAGMA journal_mode=WAL` instead would be a write transaction in rollback mode, which also
 * bumps the change counter (offsets 24 and 92) — a page-1 difference in every session. Commits
 * restore the stored bytes 18/19 (see `header-mode.ts`).
 */
export async function hydrateFile(repo: Repository, target: Target, dir: string, opts: OperationOptions = {}): Promise<FileWorkingDatabase> {
  await makeDirectory(dir).catch((e: unknown) => {
    throw fileErrorFrom(e, dir, { directory: true }) ?? e
  })
  const stem = target.branch ? encodeName(target.branch) : target.snapshot
  const path = join(dir, `${stem}.${randomBytes(6).toString('hex')}.sqlite`)
  // A working file is scratch: a crash loses the handle with it, and nothing reopens the file.
  const result = await exportSnapshot(repo.ctx, target, path, { ...opts, durable: false })
  try {
    const fh = await open(path, 'r+')
    let storedFormat: FormatBytes
    try {
      const header = new Uint8Array(100)
      await fh.read(header, 0, header.byteLength, 0)
      storedFormat = formatBytesOf(header)
      if (storedFormat.write !== LOCAL_FORMAT.write || storedFormat.read !== LOCAL_FORMAT.read) {
        await fh.write(Uint8Array.of(LOCAL_FORMAT.write, LOCAL_FORMAT.read), 0, 2, 18)
      }
    } finally {
      await fh.close()
    }
    return new FileWorkingDatabase(openWal(path), path, result.pageSize as PageSize, storedFormat)
  } catch (e) {
    await removeWorkingFile(path)
    throw e
  }
}

/** Header bytes 18/19 of every working file: WAL. */
const LOCAL_FORMAT: FormatBytes = { write: 2, read: 2 }

/** Open a working file whose header says WAL, with automatic checkpoints off and an empty WAL. */
export function openWal(path: string): LiveDatabase {
  const db = new Database(path, { fileMustExist: true })
  try {
    // The header says WAL already: this switches nothing and writes nothing, but fails loudly
    // where WAL is impossible.
    const mode = db.pragma('journal_mode = WAL', { simple: true })
    if (mode !== 'wal') throw new InvalidStateError({ operation: 'open the working database', reason: `SQLite runs it in ${String(mode)} mode, not WAL` })
    db.pragma('wal_autocheckpoint = 0')
    // Scratch, as above: durability comes from commits to the store, not from fsyncs here.
    db.pragma('synchronous = OFF')
    // Starts the WAL generation a change tracker follows (its salts are in the wal-index).
    db.pragma('wal_checkpoint(TRUNCATE)')
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

/** A live branch's working file. */
export class FileWorkingDatabase implements WorkingDatabase {
  readonly mode = 'file' as const
  #db: LiveDatabase
  #storedFormat: FormatBytes
  #released = false

  constructor(
    db: LiveDatabase,
    readonly path: string,
    readonly pageSize: PageSize,
    storedFormat: FormatBytes,
    /** Set when the file is lazy: pages arrive on demand through the VFS. */
    readonly lazy: LazyFile | null = null,
  ) {
    this.#db = db
    this.#storedFormat = storedFormat
  }

  /**
   * What changes when SQLite writes the main file: its modification time, or for a lazy file the
   * VFS's count of SQLite's writes (pages the fetcher fills in change the time, not the content).
   */
  mainFileVersion(mtimeNs: bigint): bigint {
    return this.lazy ? this.lazy.version() : mtimeNs
  }

  get db(): LiveDatabase {
    return this.#db
  }

  get storedFormat(): FormatBytes {
    return this.#storedFormat
  }

  /**
   * Turn the working file into another state of the database in place: write `pages` (page
   * number → one page image each, page 1 with its stored header bytes), cut or extend the file
   * to `pageCount` pages and reopen it — `db` is a new connection afterwards. The caller vouches
   * that every page not in `pages` already holds the new state's content. Synchronous, so no SQL
   * runs in between. Throws `InvalidStateError` and changes nothing if the connection is closed,
   * in a transaction, busy, or its WAL cannot be emptied; on a write error the overwritten pages
   * are put back and the old content reopened (as a new connection) before the error is thrown.
   */
  rewrite(pages: ReadonlyMap<number, Uint8Array>, pageCount: number): void {
    const operation = 'rewrite the working database'
    if (this.lazy) throw new InvalidStateError({ operation, reason: 'the working file is lazy (open the target lazily instead)' })
    assertScannable(this.#db, this.pageSize, operation)
    const row = (scanPragma(this.#db, 'wal_checkpoint(TRUNCATE)', operation, false) as { busy: number }[])[0]
    const wal = statSync(this.path + '-wal', { throwIfNoEntry: false })
    if (!row || row.busy !== 0 || (wal && wal.size > 0)) {
      throw new InvalidStateError({ operation, reason: 'the WAL could not be checkpointed completely (a reader holds it)' })
    }
    const size = this.pageSize
    const fd = openSync(this.path, 'r+')
    try {
      const oldBytes = fstatSync(fd).size
      const undo = new Map<number, Uint8Array>()
      for (const p of pages.keys()) {
        if (p * size > oldBytes) continue
        const old = new Uint8Array(size)
        readFully(fd, old, (p - 1) * size)
        undo.set(p, old)
      }
      this.#db.close()
      const storedFormat = pages.has(1) ? formatBytesOf(pages.get(1)!) : this.#storedFormat
      try {
        for (const [p, page] of pages) {
          let image = page
          if (p === 1) {
            image = page.slice()
            setFormatBytes(image, LOCAL_FORMAT)
          }
          writeFully(fd, image, (p - 1) * size)
        }
        ftruncateSync(fd, pageCount * size)
      } catch (e) {
        for (const [p, old] of undo) writeFully(fd, old, (p - 1) * size)
        ftruncateSync(fd, oldBytes)
        this.#db = openWal(this.path)
        throw e
      }
      this.#db = openWal(this.path)
      this.#storedFormat = storedFormat
    } finally {
      closeSync(fd)
    }
  }

  /**
   * Hand the file to another program: the WAL is checkpointed into the main file and the
   * connection closed, so the file alone holds the current content, and page 1 gets the stored
   * journal-mode bytes back — the other program sees the database exactly as stored, in its
   * stored journal mode. Returns the path. Throws `InvalidStateError` (and keeps the connection)
   * while a SQL transaction is open or the page size changed. Call {@link reclaim} afterwards.
   */
  release(): string {
    const operation = 'hand the working database to another program'
    assertScannable(this.#db, this.pageSize, operation)
    scanPragma(this.#db, 'wal_checkpoint(TRUNCATE)', operation, false)
    // Closing the last connection checkpoints whatever is left and deletes the WAL.
    this.#db.close()
    const wal = statSync(this.path + '-wal', { throwIfNoEntry: false })
    if (wal && wal.size > 0) {
      this.reclaim()
      throw new InvalidStateError({ operation, reason: 'the WAL could not be checkpointed completely (another connection holds it)' })
    }
    rmSync(this.path + '-shm', { force: true })
    writeHeaderFormat(this.path, this.#storedFormat)
    return this.path
  }

  /**
   * Take the file back after another program used it, whatever that program left: SQLite opens
   * it first — rolling back a hot journal, recovering a WAL — and a WAL is checkpointed into the
   * main file; then side files are removed, page 1 gets the working file's WAL bytes (a header
   * write, not a SQL transaction, so the content stays exactly what the program left) and the
   * connection is reopened in WAL mode. A capture afterwards must read the file (the program's
   * changes are in no WAL the handle followed): tell the change tracker to forget what it knew.
   * Throws `InvalidStateError` if the file is gone, is no longer a database of this page size's
   * layout SQLite can open, or another process still holds its WAL; `db` is then closed.
   */
  reclaim(): void {
    const operation = 'take the working database back'
    if (this.#db.open) return
    if (!statSync(this.path, { throwIfNoEntry: false })?.isFile()) throw new InvalidStateError({ operation, reason: `the working file ${this.path} is gone` })
    let recovering: LiveDatabase
    try {
      recovering = new Database(this.path, { fileMustExist: true })
    } catch (e) {
      throw new InvalidStateError({ operation, reason: `SQLite cannot open ${this.path} (${(e as Error).message})` }, { cause: e })
    }
    try {
      // The first read rolls a hot journal back or recovers a WAL, as any SQLite client would.
      recovering.prepare('SELECT count(*) FROM sqlite_schema').pluck().get()
      if (recovering.pragma('journal_mode', { simple: true }) === 'wal') {
        const row = (recovering.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]
        if (!row || row.busy !== 0) throw new InvalidStateError({ operation, reason: 'another process still has the database open (its WAL could not be checkpointed)' })
      }
    } catch (e) {
      recovering.close()
      if (e instanceof InvalidStateError) throw e
      throw new InvalidStateError({ operation, reason: `SQLite cannot read ${this.path} (${(e as Error).message})` }, { cause: e })
    }
    recovering.close()
    const wal = statSync(this.path + '-wal', { throwIfNoEntry: false })
    if (wal && wal.size > 0) throw new InvalidStateError({ operation, reason: 'another process still has the database open (its WAL is not empty after a checkpoint)' })
    // Recovered and closed: what is left is an empty WAL, a wal-index, or a journal that is no
    // longer hot (persist or truncate mode). None holds content; stale ones would confuse the reopen.
    for (const side of ['-wal', '-shm', '-journal']) rmSync(this.path + side, { force: true })
    const { size } = statSync(this.path)
    if (size % this.pageSize !== 0) throw new InvalidStateError({ operation, reason: `the file is not a whole number of ${this.pageSize}-byte pages any more` })
    writeHeaderFormat(this.path, LOCAL_FORMAT)
    this.#db = openWal(this.path)
  }

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
    // A lazy file has holes until every page is fetched: a full read needs them all.
    this.lazy?.ensureAll(pageCount)
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
    if (this.#db.open) this.#db.close()
    if (this.#released) return
    this.#released = true
    await this.lazy?.release()
    await removeWorkingFile(this.path)
  }
}

/** Set header bytes 18/19 of the closed database file at `path` to `f`, if they differ. */
function writeHeaderFormat(path: string, f: FormatBytes): void {
  const fd = openSync(path, 'r+')
  try {
    const header = new Uint8Array(20)
    readFully(fd, header, 0)
    const now = formatBytesOf(header)
    if (now.write !== f.write || now.read !== f.read) writeFully(fd, Uint8Array.of(f.write, f.read), 18)
  } finally {
    closeSync(fd)
  }
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done)
}

/** Remove a working file and the side files SQLite may have left next to it. */
export async function removeWorkingFile(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(path + s, { force: true })))
}
