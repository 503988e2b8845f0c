/**
 * The journal-mode bytes of a database header and the rule a live branch applies to them.
 *
 * Bytes 18 and 19 of page 1 (file format write/read version) say whether a database runs with a
 * rollback journal (1) or in WAL mode (2). They are part of the stored bytes of a snapshot, but
 * a live branch may have to change them locally: an in-memory database cannot be opened from an
 * image that says WAL, so in-memory mode sets them to 1 before deserializing.
 *
 * **The rule:** page 1 is always committed with bytes 18/19 exactly as they were in the snapshot
 * the handle was hydrated from. A live branch therefore never changes a database's stored
 * journal mode — whatever mode the local copy runs in, and even if SQL on the handle switches it
 * (`PRAGMA journal_mode`) — and a session that wrote nothing produces no page-1 difference.
 * The stored mode is set when a database is imported (it is the source file's mode).
 */

/** The journal-mode bytes (header offsets 18 and 19) of a database. */
export interface FormatBytes {
  /** File format write version: 1 = rollback journal, 2 = WAL. */
  write: number
  /** File format read version: 1 = rollback journal, 2 = WAL. */
  read: number
}

const WRITE_VERSION = 18
const READ_VERSION = 19

/** The journal-mode bytes of `page1` (the first page, or at least its first 20 bytes). */
export function formatBytesOf(page1: Uint8Array): FormatBytes {
  return { write: page1[WRITE_VERSION]!, read: page1[READ_VERSION]! }
}

/** True if the header says WAL mode. */
export function isWalFormat(f: FormatBytes): boolean {
  return f.write === 2 || f.read === 2
}

/** Write `f` into the header of `page1`, in place. */
export function setFormatBytes(page1: Uint8Array, f: FormatBytes): void {
  page1[WRITE_VERSION] = f.write
  page1[READ_VERSION] = f.read
}

/**
 * Make a database image deserializable in memory: SQLite refuses an in-memory image whose header
 * says WAL ("unable to open database file"), so WAL bytes become rollback bytes, in place.
 */
export function prepareForDeserialize(image: Uint8Array): void {
  if (isWalFormat(formatBytesOf(image))) setFormatBytes(image, { write: 1, read: 1 })
}
