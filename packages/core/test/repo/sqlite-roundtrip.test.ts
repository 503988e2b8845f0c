import Database from 'better-sqlite3'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sameBytes, tempRepo } from '../helpers.js'

// Real SQLite databases through the core engine alone: pages changed by SQLite on a copy of the
// file are committed as page writes; every export must be a database SQLite accepts.

let cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

function build(path: string, pageSize: number): void {
  const db = new Database(path)
  db.pragma(`page_size = ${pageSize}`)
  db.pragma('journal_mode = DELETE')
  db.exec(`
    CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, created INTEGER);
    CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), title TEXT, body TEXT);
    CREATE INDEX posts_user ON posts(user_id);
    CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB);
  `)
  const u = db.prepare('INSERT INTO users (email, name, created) VALUES (?, ?, ?)')
  const p = db.prepare('INSERT INTO posts (user_id, title, body) VALUES (?, ?, ?)')
  const f = db.prepare('INSERT INTO files (data) VALUES (?)')
  db.transaction(() => {
    for (let i = 0; i < 3000; i++) u.run(`user${i}@example.com`, `User ${i}`, 1_700_000_000 + i)
    for (let i = 0; i < 6000; i++) p.run((i % 3000) + 1, `title ${i}`, 'lorem ipsum '.repeat(i % 20))
    for (let i = 0; i < 20; i++) f.run(Buffer.alloc(3 * pageSize + 17, i))
  })()
  db.close()
}

/** Pages of `after` that differ from `before` (whole files), and the new page count. */
function changedPages(before: Uint8Array, after: Uint8Array, pageSize: number): { writes: Map<number, Uint8Array>; pageCount: number } {
  const writes = new Map<number, Uint8Array>()
  const pageCount = after.length / pageSize
  for (let p = 1; p <= pageCount; p++) {
    const a = after.subarray((p - 1) * pageSize, p * pageSize)
    const b = before.subarray((p - 1) * pageSize, p * pageSize)
    if (b.length !== a.length || !Buffer.from(a).equals(Buffer.from(b))) writes.set(p, a)
  }
  return { writes, pageCount }
}

const query = (path: string) => {
  const db = new Database(path, { readonly: true })
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      users: db.prepare('SELECT count(*) n, sum(created) s FROM users').get(),
      posts: db.prepare('SELECT count(*) n, group_concat(title) t FROM (SELECT title FROM posts ORDER BY id DESC LIMIT 50)').get(),
      files: db.prepare("SELECT name FROM sqlite_schema WHERE name = 'files'").get() ? db.prepare('SELECT count(*) n, sum(length(data)) s FROM files').get() : null,
      audit: db.prepare("SELECT count(*) n FROM sqlite_schema WHERE name IN ('audit', 'users_name')").get(),
      tables: db.prepare("SELECT name FROM sqlite_schema ORDER BY name").all(),
    }
  } finally {
    db.close()
  }
}

describe('real SQLite databases through commit and export', () => {
  for (const pageSize of [512, 4096, 65536]) {
    it(`page size ${pageSize}: branch edits, shrink and growth export as valid databases`, async () => {
      const t = await tempRepo({ segmentBytes: 1024 * 1024 })
      cleanups.push(t.cleanup)
      const src = join(t.dir, 'src.db')
      build(src, pageSize)
      await t.repo.importDatabase(src)
      await t.repo.createBranch('edit')

      // Edit a working copy with SQLite, then commit the pages it changed.
      const work = join(t.dir, 'work.db')
      await copyFile(src, work)
      const db = new Database(work)
      db.exec(`
        UPDATE users SET name = name || ' (edited)' WHERE id % 7 = 0;
        DELETE FROM posts WHERE id % 5 = 0;
        INSERT INTO files (data) VALUES (zeroblob(${5 * pageSize}));
        CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
        CREATE INDEX users_name ON users(name);
        DROP TABLE files;
      `)
      db.close()
      const before = new Uint8Array(await readFile(src))
      let after = new Uint8Array(await readFile(work))
      let change = changedPages(before, after, pageSize)
      const c = await t.repo.commit('edit', { ...change, message: 'edits' })
      expect(c.ownPages).toBeLessThan(after.length / pageSize)
      const out = join(t.dir, 'edit.db')
      await t.repo.export('edit', out)
      expect(sameBytes(await readFile(out), after, pageSize)).toBe(true)
      expect(query(out)).toEqual(query(work))
      expect(query(out).integrity).toBe('ok')

      // VACUUM shrinks the file: the commit carries a smaller page count.
      const v = new Database(work)
      v.exec('VACUUM')
      v.close()
      const vacuumed = new Uint8Array(await readFile(work))
      expect(vacuumed.length).toBeLessThan(after.length)
      change = changedPages(after, vacuumed, pageSize)
      await t.repo.commit('edit', change)
      after = vacuumed
      await t.repo.export('edit', out, { overwrite: true })
      expect(sameBytes(await readFile(out), after, pageSize)).toBe(true)
      expect(query(out).integrity).toBe('ok')

      // The parent branch is byte-for-byte unchanged.
      const mainOut = join(t.dir, 'main.db')
      await t.repo.export('main', mainOut)
      expect(sameBytes(await readFile(mainOut), before, pageSize)).toBe(true)
      expect(query(mainOut).integrity).toBe('ok')
    })
  }
})
