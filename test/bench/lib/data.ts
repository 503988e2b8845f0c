import { randomFillSync } from 'node:crypto'
import { closeSync, openSync, statSync, writeSync } from 'node:fs'
import Database from 'better-sqlite3'
import type { Repository } from '@strata/core'

export const PAGE_SIZE = 4096
export const MiB = 1024 * 1024

/**
 * A real SQLite database of about `mib` MiB at `path` (rollback journal, 4 KiB pages): table
 * `items(id, label, payload)` with one ~3.9 KB random payload per row — about one row per leaf
 * page — and an index on `label`. Returns the file's size in bytes.
 */
export function buildItemsDatabase(path: string, mib: number): number {
  const rows = Math.max(16, Math.floor(((mib * MiB) / PAGE_SIZE) * 0.985))
  const db = new Database(path)
  try {
    db.pragma(`page_size = ${PAGE_SIZE}`)
    db.pragma('journal_mode = DELETE')
    db.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL, payload BLOB NOT NULL);
      CREATE INDEX items_label ON items(label);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
      INSERT INTO items SELECT i, 'item ' || i, randomblob(3900) FROM n;
    `)
  } finally {
    db.close()
  }
  return statSync(path).size
}

/** Rows in a database built by {@link buildItemsDatabase}. */
export function itemRows(path: string): number {
  const db = new Database(path, { readonly: true })
  try {
    return (db.prepare('SELECT max(id) AS n FROM items').get() as { n: number }).n
  } finally {
    db.close()
  }
}

/**
 * A synthetic database file of `pages` 4 KiB pages: a valid SQLite header on page 1 (so import
 * accepts it) and random bytes everywhere else. Storage benchmarks need page bytes, not SQL.
 */
export function writeSyntheticDatabase(path: string, pages: number): void {
  const chunkPages = 1024
  const buf = new Uint8Array(chunkPages * PAGE_SIZE)
  const fd = openSync(path, 'w')
  try {
    for (let first = 1; first <= pages; first += chunkPages) {
      const n = Math.min(chunkPages, pages - first + 1)
      randomFillSync(buf)
      if (first === 1) stampHeader(buf, pages)
      writeSync(fd, buf, 0, n * PAGE_SIZE, (first - 1) * PAGE_SIZE)
    }
  } finally {
    closeSync(fd)
  }
}

/** A valid SQLite header (rollback journal, 4 KiB pages, `pages` pages) at the start of `page1`. */
function stampHeader(page1: Uint8Array, pages: number): void {
  page1.set(new TextEncoder().encode('SQLite format 3\0'), 0)
  const v = new DataView(page1.buffer, page1.byteOffset)
  v.setUint16(16, PAGE_SIZE)
  page1.set([1, 1, 0, 64, 32, 32], 18)
  v.setUint32(24, 1)
  v.setUint32(28, pages)
  v.setUint32(92, 1)
}

/** A page of random bytes (synthetic page writes). */
export function randomPage(): Uint8Array {
  return randomFillSync(new Uint8Array(PAGE_SIZE))
}

/**
 * Stack `depth` branches `depth-1` … `depth-N`, each created from the one before (the first from
 * main) and committing `pagesPerLevel` random pages (never page 1) of a `pageCount`-page database.
 * Returns the deepest branch's name.
 */
export async function stackBranches(repo: Repository, depth: number, pagesPerLevel: number, pageCount: number): Promise<string> {
  let from = 'main'
  for (let level = 1; level <= depth; level++) {
    const name = `depth-${level}`
    await repo.createBranch(name, { from })
    const writes: [number, Uint8Array][] = []
    for (let i = 0; i < pagesPerLevel; i++) writes.push([2 + Math.floor(Math.random() * (pageCount - 2)), randomPage()])
    await repo.commit(name, { writes })
    from = name
  }
  return from
}
