import Database from 'better-sqlite3'
import { ENTRY_POINT, extensionPath } from '@strata/vfs'

/** What the VFS counts for one lazy file (see `strata_vfs_stats` in the extension). */
export interface VfsFileStats {
  pageCount: number
  /** Pages still served from the store unless present (shrinks when SQLite truncates the file). */
  owned: number
  /** Pages in the local file. */
  present: number
  /** Reads that blocked for the fetcher. */
  misses: number
  /** Time spent blocked, in ms. */
  waitMs: number
  /** Pages fetched and written into the file. */
  pagesFetched: number
  bytesFetched: number
  /** Bytes read from the store (ranged reads, incl. spare slots of coalesced reads). */
  storeBytes: number
  /** Ranged reads of segments. */
  storeRequests: number
  /** Writes and truncations SQLite made to the file (checkpoints). */
  sqliteWrites: number
  failures: number
}

/**
 * The loaded VFS extension of this thread: a bootstrap connection that loaded it (the VFS stays
 * registered for the whole process) and the control functions it defines.
 */
export class VfsControl {
  readonly #register: Database.Statement
  readonly #unregister: Database.Statement
  readonly #stats: Database.Statement
  readonly #ensure: Database.Statement
  readonly #lastError: Database.Statement

  constructor(
    readonly path: string,
    readonly db: Database.Database,
  ) {
    this.#register = db.prepare('SELECT strata_vfs_register(?, ?, ?, ?, ?, ?)').pluck()
    this.#unregister = db.prepare('SELECT strata_vfs_unregister(?)').pluck()
    this.#stats = db.prepare('SELECT strata_vfs_stats(?)').pluck()
    this.#ensure = db.prepare('SELECT strata_vfs_ensure(?, ?, ?)').pluck()
    this.#lastError = db.prepare('SELECT strata_vfs_last_error(?)').pluck()
  }

  /** Own file `path` from now on (its next opens); returns the full path SQLite will use. */
  register(path: string, id: number, pageSize: number, pageCount: number, socketPath: string, timeoutMs: number): string {
    return this.#register.get(path, id, pageSize, pageCount, socketPath, timeoutMs) as string
  }

  /** Stop owning file `id` (connections open on it keep working until closed). */
  unregister(id: number): void {
    this.#unregister.get(id)
  }

  /** The file's counters, or null if it is not registered. */
  stats(id: number): VfsFileStats | null {
    const json = this.#stats.get(id) as string | null
    return json === null ? null : (JSON.parse(json) as VfsFileStats)
  }

  /** Fetch every missing page of `first`…`first + count - 1`, blocking. Throws SQLite's error on failure. */
  ensure(id: number, first: number, count: number): void {
    this.#ensure.get(id, first, count)
  }

  /** The VFS's description of the file's last failure, or null. */
  lastError(id: number): string | null {
    return this.#lastError.get(id) as string | null
  }
}

let loaded: VfsControl | { unavailable: string } | null = null

/**
 * Load the VFS into this process (once) and return its controls, or why it is unavailable: the
 * extension was not built, or SQLite refused to load it.
 */
export function vfsControl(): VfsControl | { unavailable: string } {
  if (loaded) return loaded
  const path = extensionPath()
  if (!path) {
    loaded = { unavailable: 'the @strata/vfs extension is not built (run `npm rebuild @strata/vfs`)' }
    return loaded
  }
  const db = new Database(':memory:')
  try {
    // better-sqlite3 takes the entry point as a second argument (its typings omit it).
    ;(db.loadExtension as (path: string, entryPoint: string) => unknown)(path, ENTRY_POINT)
    loaded = new VfsControl(path, db)
  } catch (e) {
    db.close()
    loaded = { unavailable: `SQLite could not load ${path}: ${(e as Error).message}` }
  }
  return loaded
}
