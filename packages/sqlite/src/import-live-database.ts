import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import Database from 'better-sqlite3'
import { AbortedError, InvalidDatabaseError, validateName, type ImportOptions, type ImportResult, type Repository } from '@strata/core'
import { assertNameFree } from '@strata/core/engine'

/** Options of {@link importLiveDatabase}. */
export interface ImportLiveOptions extends ImportOptions {
  /**
   * Directory for the temporary consistent copy (it needs room for the whole database).
   * Default: the OS temp directory. The copy is removed afterwards, whatever happens.
   */
  tmpDir?: string
}

/** Bytes copied per backup step; the copy yields to the event loop between steps. */
const BACKUP_STEP_BYTES = 4 * 1024 * 1024

/**
 * Import a database file that may be in use — in WAL mode with un-checkpointed frames, or with
 * a hot rollback journal — as a standalone root snapshot on a new branch (default `main`).
 *
 * SQLite itself reads the database: a read-only connection (read-write only when a hot journal
 * must be rolled back, which SQLite does on opening, as any SQLite client would) copies one
 * consistent state with the backup API into a temporary file, and core's `importDatabase`
 * imports that copy. The backup API copies pages as they are, so the page layout, freelist and
 * journal-mode header bytes are the source's; only page 1's change counter and schema cookie
 * differ. The source file is never written by Strata and its WAL is not checkpointed. Writers
 * may keep writing meanwhile: SQLite restarts the copy when the source changes under it.
 *
 * Throws `InvalidDatabaseError` (nothing written) for a missing file or one SQLite cannot read
 * as a database, `BranchExistsError` if the branch exists.
 */
export async function importLiveDatabase(repo: Repository, path: string, opts: ImportLiveOptions = {}): Promise<ImportResult> {
  const branch = opts.branch ?? 'main'
  validateName(branch)
  // Fail before copying a large database.
  await assertNameFree(repo.store, branch)
  const st = await stat(path).catch(() => null)
  if (!st) throw new InvalidDatabaseError({ path, reason: 'the file does not exist' })
  if (!st.isFile()) throw new InvalidDatabaseError({ path, reason: 'it is not a regular file' })
  if (opts.signal?.aborted) throw new AbortedError({ operation: 'import' })

  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'strata-import-'))
  try {
    const copy = join(dir, basename(path))
    const source = openConsistent(path)
    try {
      const pageSize = source.pragma('page_size', { simple: true }) as number
      const step = Math.max(1, Math.floor(BACKUP_STEP_BYTES / pageSize))
      await source.backup(copy, {
        progress: ({ totalPages, remainingPages }) => {
          opts.onProgress?.({ phase: 'copy', loaded: totalPages - remainingPages, total: totalPages })
          return step
        },
      })
    } catch (e) {
      if (isSqliteError(e)) throw new InvalidDatabaseError({ path, reason: `SQLite could not copy it (${(e as Error).message})` }, { cause: e })
      throw e
    } finally {
      source.close()
    }
    return await repo.importDatabase(copy, {
      branch,
      message: opts.message ?? `import ${basename(path)}`,
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * A connection to `path` that has read the database once, so it sees a consistent state:
 * read-only, unless SQLite reports a hot journal that only a read-write connection may roll back.
 */
function openConsistent(path: string): Database.Database {
  const refuse = (e: unknown): never => {
    throw new InvalidDatabaseError({ path, reason: `SQLite cannot read it (${(e as Error).message})` }, { cause: e })
  }
  for (const readonly of [true, false]) {
    let db: Database.Database
    try {
      db = new Database(path, { readonly, fileMustExist: true })
    } catch (e) {
      return refuse(e)
    }
    try {
      db.prepare('SELECT count(*) FROM sqlite_schema').get()
      return db
    } catch (e) {
      db.close()
      // Only a hot journal (which a read-only connection may not roll back) earns a second try.
      if (!readonly || (e as { code?: unknown }).code !== 'SQLITE_READONLY_ROLLBACK') return refuse(e)
    }
  }
  throw new Error('unreachable')
}

function isSqliteError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_')
}
