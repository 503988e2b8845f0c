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
 * `sqlite_schema`); `freelist` lists the freelist's pages (see `freelist` in changed-owners.ts);
 * what is left — pointer-map pages, the lock-byte page — is {@link OTHER_OWNER}. Walks every
 * b-tree, so it reads the whole database once.
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
