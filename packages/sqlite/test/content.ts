import { createHash } from 'node:crypto'
import type { SqliteDatabase } from '../src/index.js'

/** The minimal database surface the content helpers need (better-sqlite3). */
export interface QueryableDatabase extends SqliteDatabase {
  prepare(sql: string): { all(...params: unknown[]): unknown[]; get(...params: unknown[]): unknown }
}

/** A comparable description of a database's logical content: schema, and every table's rows hashed. */
export interface ContentSummary {
  schema: string[]
  tables: Record<string, { rows: number; sha256: string }>
  queries: Record<string, unknown>
}

/** Everything a test compares between two opens of the same state, in a JSON-safe form. */
export function contentSummary(db: QueryableDatabase): ContentSummary {
  const schema = (db.prepare(`SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS s FROM sqlite_schema ORDER BY type, name`).all() as { s: string }[]).map((r) => r.s)
  const list = db.prepare(`SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string; wr: number }[]
  const tables: ContentSummary['tables'] = {}
  for (const { name, wr } of list) {
    const order = wr ? (db.prepare(`SELECT group_concat(name) AS k FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`).get(name) as { k: string }).k : 'rowid'
    const h = createHash('sha256')
    let rows = 0
    for (const row of db.prepare(`SELECT * FROM "${name}" ORDER BY ${order}`).all() as Record<string, unknown>[]) {
      rows++
      h.update(JSON.stringify(Object.values(row).map((v) => (Buffer.isBuffer(v) ? `x'${v.toString('hex')}'` : typeof v === 'bigint' ? v.toString() : v))))
      h.update('\n')
    }
    tables[name] = { rows, sha256: h.digest('hex') }
  }
  const queries: Record<string, unknown> = {}
  const has = (t: string): boolean => list.some((x) => x.name === t)
  if (has('orders') && has('users')) {
    queries.topUsers = db.prepare(`SELECT u.name, count(*) AS n, sum(o.qty) AS q FROM orders o JOIN users u ON u.id = o.user_id GROUP BY u.id ORDER BY n DESC, u.id LIMIT 5`).all()
    queries.byEmail = db.prepare(`SELECT id, name FROM users WHERE email = ?`).get('user42@example.com') ?? null
  }
  if (has('attachments')) {
    queries.blobBytes = db.prepare(`SELECT count(*) AS n, sum(length(data)) AS bytes FROM attachments`).get()
  }
  return { schema, tables, queries }
}
