import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { InvalidArgumentError } from '@strata/core'
import type { SqliteDatabase } from './sqlite-types.js'

/** What `PRAGMA integrity_check` said. */
export interface IntegrityReport {
  /** True when SQLite answered exactly `ok`. */
  ok: boolean
  /** SQLite's messages: `['ok']`, or each problem found (or the error that stopped the check). */
  messages: string[]
}

/** Options of {@link integrityCheck}. */
export interface IntegrityCheckOptions {
  /** Stop after this many problems (SQLite's `integrity_check(N)`). Default 100. */
  maxErrors?: number
}

/**
 * Run `PRAGMA integrity_check` on the database file at `pathOrDb` (opened read-only, then
 * closed) or on an open database. A file that SQLite cannot read as a database (not a
 * database, corrupt beyond checking, a hot journal a read-only connection cannot roll back)
 * gives `ok: false` with SQLite's error as the message. A path that does not name a file throws
 * `InvalidArgumentError`.
 */
export function integrityCheck(pathOrDb: string | SqliteDatabase, opts: IntegrityCheckOptions = {}): IntegrityReport {
  const max = opts.maxErrors ?? 100
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError({ argument: 'maxErrors', reason: `${max} is not a positive integer` })
  if (typeof pathOrDb !== 'string') return check(pathOrDb, max)
  if (!statSync(pathOrDb, { throwIfNoEntry: false })?.isFile()) {
    throw new InvalidArgumentError({ argument: 'path', reason: `${pathOrDb} is not a file` })
  }
  let db: Database.Database
  try {
    db = new Database(pathOrDb, { readonly: true, fileMustExist: true })
  } catch (e) {
    return { ok: false, messages: [sqliteMessage(e)] }
  }
  try {
    return check(db, max)
  } finally {
    db.close()
  }
}

function check(db: SqliteDatabase, max: number): IntegrityReport {
  let rows: unknown
  try {
    rows = db.pragma(`integrity_check(${max})`)
  } catch (e) {
    return { ok: false, messages: [sqliteMessage(e)] }
  }
  const messages = (rows as Record<string, unknown>[]).map((r) => String(Object.values(r)[0]))
  return { ok: messages.length === 1 && messages[0] === 'ok', messages }
}

function sqliteMessage(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown }
  return typeof err.code === 'string' ? `${err.code}: ${String(err.message)}` : String(err.message ?? e)
}
