import { closeSync, openSync, statSync } from 'node:fs'
import { type PageSize } from '@strata/core'
import { hashPage, lockBytePage } from '@strata/core/engine'
import type { CapturedChanges, ChangeTracker, ChangeTrackerFactory, TrackerContext } from './change-tracker.js'
import { FileWorkingDatabase } from './file-working-database.js'
import { FullScanTracker } from './full-scan-tracker.js'
import { setFormatBytes } from './header-mode.js'
import type { PageHashes } from './page-hashes.js'
import { readFully, readWal, readWalIndexHeader } from './wal-file.js'
import { assertScannable, scanPragma } from './working-database.js'

/**
 * The state of the working file right after the tracker last made the main file hold the
 * committed state (a checkpoint that emptied the WAL). From then on every change lives in WAL
 * frames of this generation, so the pages the WAL does not hold are the committed ones.
 */
interface SyncPoint {
  /** The WAL generation's salts (from the wal-index); they change whenever the WAL restarts. */
  salt1: number
  salt2: number
  /**
   * The main file: size, modification time (for a lazy file: SQLite's write count, see
   * `FileWorkingDatabase.mainFileVersion`) and inode. Only checkpoints write it in WAL mode.
   */
  size: bigint
  mtimeNs: bigint
  ino: bigint
  /** Pages in the main file. */
  pageCount: number
}

/** What {@link WalTracker.committed} needs to know about a capture it produced. */
type CaptureRecord = { kind: 'wal'; maxFrame: number; salt1: number; salt2: number } | { kind: 'scan'; candidate: SyncPoint | null }

const OPERATION = 'read the working database'

/**
 * Finds changed pages in the working file's write-ahead log instead of hashing every page: the
 * working file runs in WAL mode with automatic checkpoints off, so after the tracker's own
 * checkpoint (at hydration and after each commit) every change lands in WAL frames. A capture
 * reads the WAL — header, salts and cumulative checksums validated, frames after the last valid
 * commit frame ignored — hashes the newest committed image of each page it holds and keeps those
 * that differ from the committed state; the cost follows the change, not the database. After a
 * commit it checkpoints (`TRUNCATE`), unless SQL wrote more in the meantime (those frames then
 * stay in the WAL, which still covers every difference).
 *
 * It falls back to a full scan ({@link FullScanTracker}) whenever the WAL cannot be trusted to
 * hold every change: in-memory mode; a comparison with another state than the committed one
 * (`overwrite`); a WAL that is missing, unreadable, has a bad header or checksum, or whose valid
 * frames disagree with SQLite's wal-index; salts that changed (the WAL was restarted — someone
 * checkpointed behind the tracker's back); a main file that changed; journal mode no longer WAL
 * or exclusive locking. After a fallback the WAL path resumes once the scanned state is committed
 * (or found unchanged). Every result says which path produced it (`via`, `fallback`).
 */
export class WalTracker implements ChangeTracker {
  readonly name = 'wal'
  readonly #full: FullScanTracker
  #sync: SyncPoint | null
  /** Why the WAL path is off, while {@link #sync} is null. */
  #distrust = 'no trusted WAL state yet'
  readonly #records = new WeakMap<CapturedChanges, CaptureRecord>()

  constructor(readonly context: TrackerContext) {
    this.#full = new FullScanTracker(context)
    this.#sync = this.#syncPoint()
  }

  capture(against: PageHashes = this.context.committed()): CapturedChanges {
    const wal = this.#fromWal(against, false)
    if ('changes' in wal) return wal.changes
    return this.#scan(against, wal.reason)
  }

  hasChanges(): boolean {
    const committed = this.context.committed()
    const wal = this.#fromWal(committed, true)
    if ('changes' in wal) return wal.changes.writes.size > 0 || wal.changes.pageCount !== committed.pageCount
    const changed = this.#full.hasChanges()
    this.#afterScan(!changed)
    return changed
  }

  committed(changes: CapturedChanges): void {
    const record = this.#records.get(changes)
    if (!record) {
      this.#untrust('changes the tracker did not capture were committed')
      return
    }
    if (record.kind === 'scan') {
      this.#sync = record.candidate
      if (!record.candidate) this.#distrust = 'the working file could not be read after the scan'
      return
    }
    const { db } = this.context.working
    if (!db.open || db.inTransaction || !this.#sync) return
    const shm = readWalIndexHeader(this.context.working.path + '-shm')
    // SQL wrote more since the capture: those frames stay in the WAL, which then still holds
    // every page that differs from the new committed state.
    if (!shm || shm.maxFrame !== record.maxFrame || shm.salt1 !== record.salt1 || shm.salt2 !== record.salt2) return
    try {
      db.pragma('wal_checkpoint(TRUNCATE)')
    } catch {
      // A statement is still being iterated; the WAL keeps the frames, which is as good.
    }
    // Even a partial checkpoint only copied committed frames into the main file.
    const next = this.#syncPoint()
    if (next) this.#sync = next
    else this.#untrust('the working file could not be read after the checkpoint')
  }

  forget(reason: string): void {
    this.#untrust(reason)
  }

  dispose(): void {}

  /** Why the last capture could not use the WAL, or null while it can. */
  get distrust(): string | null {
    return this.#sync ? null : this.#distrust
  }

  #untrust(reason: string): void {
    this.#sync = null
    this.#distrust = reason
  }

  #scan(against: PageHashes, reason: string): CapturedChanges {
    const scanned = this.#full.capture(against)
    const committed = this.context.committed()
    // The scan checkpointed: the main file now holds the scanned state, which becomes the
    // committed one only when these changes are committed (or if it already is).
    const candidate = this.#afterScan(against === committed && scanned.writes.size === 0 && scanned.pageCount === committed.pageCount)
    const changes: CapturedChanges = { ...scanned, via: this.#full.name, fallback: reason }
    this.#records.set(changes, { kind: 'scan', candidate })
    return changes
  }

  /** After a full scan (which checkpoints): trust the new state now if it is the committed one. */
  #afterScan(isCommitted: boolean): SyncPoint | null {
    const candidate = this.#syncPoint()
    if (isCommitted && candidate) this.#sync = candidate
    else this.#untrust(this.#sync ? 'a full scan checkpointed uncommitted changes into the main file' : this.#distrust)
    return candidate
  }

  #fromWal(against: PageHashes, firstOnly: boolean): { changes: CapturedChanges } | { reason: string } {
    const w = this.context.working
    if (w.mode !== 'file' || w.path === null) return { reason: 'the database is in memory' }
    if (against !== this.context.committed()) return { reason: 'compared with a state other than the committed one' }
    const sync = this.#sync
    if (!sync) return { reason: this.#distrust }
    if (!w.db.open) return { reason: 'the connection was closed outside the handle' }
    assertScannable(w.db, w.pageSize, OPERATION)
    const mode = scanPragma(w.db, 'journal_mode', OPERATION)
    if (mode !== 'wal') return this.#distrusted(`the journal mode is ${String(mode)}, not wal`)
    if (scanPragma(w.db, 'locking_mode', OPERATION) !== 'normal') return this.#distrusted('exclusive locking keeps the wal-index out of reach')
    const shm = readWalIndexHeader(w.path + '-shm')
    if (!shm) return this.#distrusted('the wal-index (-shm) is missing or inconsistent')
    if (shm.salt1 !== sync.salt1 || shm.salt2 !== sync.salt2) return this.#distrusted('the WAL was restarted outside the tracker (a checkpoint behind its back)')
    const st = statSync(w.path, { bigint: true, throwIfNoEntry: false })
    if (!st || st.size !== sync.size || mainFileVersion(w, st.mtimeNs) !== sync.mtimeNs || st.ino !== sync.ino) return this.#distrusted('the main database file changed outside the tracker')
    const wal = readWal(w.path + '-wal', w.pageSize)
    if ('unreadable' in wal) return this.#distrusted(wal.unreadable)
    if (wal.header && (wal.header.salt1 !== sync.salt1 || wal.header.salt2 !== sync.salt2)) return this.#distrusted('the WAL header belongs to another WAL generation')
    if (wal.committedFrames !== shm.maxFrame) {
      return this.#distrusted(`the WAL holds ${wal.committedFrames} valid committed frames but SQLite's wal-index says ${shm.maxFrame} (stopped: ${wal.stop})`)
    }
    const pageCount = scanPragma(w.db, 'page_count', OPERATION) as number
    const expected = wal.committedFrames > 0 ? wal.databasePages : sync.pageCount
    if (pageCount !== expected) return this.#distrusted(`SQLite reports ${pageCount} pages, the WAL and main file say ${expected}`)
    const lock = lockBytePage(w.pageSize as PageSize)
    for (let p = sync.pageCount + 1; p <= pageCount; p++) {
      if (p !== lock && !wal.pages.has(p)) return this.#distrusted(`new page ${p} is in neither the main file nor the WAL`)
    }

    const writes = new Map<number, Uint8Array>()
    const hashes = new Map<number, Uint8Array>()
    const fd = openSync(w.path + '-wal', 'r')
    try {
      for (const [p, offset] of [...wal.pages].sort((a, b) => a[0] - b[0])) {
        if (p === lock) continue
        const page = new Uint8Array(w.pageSize)
        readFully(fd, page, offset)
        if (p === 1) setFormatBytes(page, w.storedFormat)
        const h = hashPage(page)
        if (against.matches(p, h)) continue
        writes.set(p, page)
        hashes.set(p, h)
        if (firstOnly) break
      }
    } catch (e) {
      return this.#distrusted(`the WAL could not be read (${(e as Error).message})`)
    } finally {
      closeSync(fd)
    }
    const changes: CapturedChanges = { pageCount, writes, hashes, pagesScanned: wal.pages.size, via: this.name }
    this.#records.set(changes, { kind: 'wal', maxFrame: shm.maxFrame, salt1: shm.salt1, salt2: shm.salt2 })
    return { changes }
  }

  #distrusted(reason: string): { reason: string } {
    this.#untrust(reason)
    return { reason }
  }

  /** The working file's current state, or null when it has none to record (memory, closed, no wal-index). */
  #syncPoint(): SyncPoint | null {
    const w = this.context.working
    if (w.mode !== 'file' || w.path === null || !w.db.open) return null
    const shm = readWalIndexHeader(w.path + '-shm')
    const st = statSync(w.path, { bigint: true, throwIfNoEntry: false })
    if (!shm || !st) return null
    return { salt1: shm.salt1, salt2: shm.salt2, size: st.size, mtimeNs: mainFileVersion(w, st.mtimeNs), ino: st.ino, pageCount: Number(st.size / BigInt(w.pageSize)) }
  }
}

/**
 * The factory of {@link WalTracker}, the default change tracker: changes from the working file's
 * WAL, a full scan where the WAL cannot be trusted (and always in memory mode).
 */
export const walTracker: ChangeTrackerFactory = (context) => new WalTracker(context)

/** The main file's version marker: its modification time unless the working database says otherwise. */
function mainFileVersion(w: TrackerContext['working'], mtimeNs: bigint): bigint {
  return w instanceof FileWorkingDatabase ? w.mainFileVersion(mtimeNs) : mtimeNs
}
