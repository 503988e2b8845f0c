import { closeSync, openSync, readSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'

/** The owner of pages on a database's freelist. */
export const FREELIST_OWNER = '(freelist)'

/** The owner of pages that are neither in a b-tree nor on the freelist: pointer-map pages (auto-vacuum) and the lock-byte page. */
export const OTHER_OWNER = '(other)'

/** What kind of thing owns a page. */
export type OwnerType = 'table' | 'index' | 'freelist' | 'other'

/** Which table, index or structure owns each page of one database. */
export interface PageOwners {
  pageCount: number
  /** Owner names, indexed by owner number: 0 is {@link OTHER_OWNER}, 1 is {@link FREELIST_OWNER}. */
  names: string[]
  /** The type of each owner, by owner number. */
  types: OwnerType[]
  /** The owner number of page p at index p - 1. */
  owner: Uint32Array
}

/**
 * Map every page of schema `schema` (`main` or an attached name) of `db` to its owner: SQLite's
 * `dbstat` names the table or index of each b-tree and overflow page (page 1 belongs to
 * `sqlite_schema`); the freelist is read from the file at `path` (trunk chain from header offset
 * 32); what is left — pointer-map pages, the lock-byte page — is {@link OTHER_OWNER}. Walks every
 * b-tree, so it reads the whole file once.
 */
export function readPageOwners(db: BetterSqlite3.Database, schema: string, path: string): PageOwners {
  const pageSize = Number(db.pragma(`"${schema}".page_size`, { simple: true }))
  const pageCount = Number(db.pragma(`"${schema}".page_count`, { simple: true }))
  return dbstatOwners(db, schema, freelistPages(path, pageSize, pageCount))
}

/**
 * As {@link readPageOwners}, with the freelist's pages given (for a database whose file is not
 * whole on disk, such as a lazy side file).
 */
export function dbstatOwners(db: BetterSqlite3.Database, schema: string, freelist: Iterable<number>): PageOwners {
  const pageCount = Number(db.pragma(`"${schema}".page_count`, { simple: true }))
  const names = [OTHER_OWNER, FREELIST_OWNER]
  const types: OwnerType[] = ['other', 'freelist']
  const number = new Map<string, number>()
  const kinds = new Map<string, OwnerType>([['sqlite_schema', 'table']])
  for (const r of db.prepare(`SELECT type, name FROM "${schema}".sqlite_schema WHERE type IN ('table', 'index')`).all() as { type: 'table' | 'index'; name: string }[]) {
    kinds.set(r.name, r.type)
  }
  const owner = new Uint32Array(pageCount)
  for (const r of db.prepare('SELECT name, pageno FROM dbstat(?)').raw(true).iterate(schema) as IterableIterator<[string, number]>) {
    const [name, pageno] = r
    let n = number.get(name)
    if (n === undefined) {
      n = names.length
      names.push(name)
      types.push(kinds.get(name) ?? 'table')
      number.set(name, n)
    }
    if (pageno >= 1 && pageno <= pageCount) owner[pageno - 1] = n
  }
  for (const p of freelist) if (p >= 1 && p <= pageCount) owner[p - 1] = 1
  return { pageCount, names, types, owner }
}

/**
 * The freelist's pages (trunks and leaves) of the database file at `path`. A chain that loops or
 * points past the end stops there: the database is damaged, and the rest reads as `(other)`.
 */
export function freelistPages(path: string, pageSize: number, pageCount: number): number[] {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(8)
    readSync(fd, head, 0, 8, 32)
    let trunk = head.readUInt32BE(0)
    const total = head.readUInt32BE(4)
    const out: number[] = []
    const seen = new Set<number>()
    const page = Buffer.alloc(pageSize)
    while (trunk >= 1 && trunk <= pageCount && !seen.has(trunk) && out.length < total) {
      seen.add(trunk)
      out.push(trunk)
      readSync(fd, page, 0, pageSize, (trunk - 1) * pageSize)
      const next = page.readUInt32BE(0)
      const leaves = Math.min(page.readUInt32BE(4), pageSize / 4 - 2)
      for (let i = 0; i < leaves; i++) {
        const leaf = page.readUInt32BE(8 + 4 * i)
        if (leaf >= 1 && leaf <= pageCount) out.push(leaf)
      }
      trunk = next
    }
    return out
  } finally {
    closeSync(fd)
  }
}
