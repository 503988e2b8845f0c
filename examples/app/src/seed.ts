import Database from 'better-sqlite3'

/**
 * Write the database every session starts from to `path`: a library catalogue of 2,000 books
 * with an index by author.
 */
export function seedDatabase(path: string): void {
  const db = new Database(path)
  db.exec(`
    CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL, year INTEGER NOT NULL, copies INTEGER NOT NULL);
    CREATE INDEX books_author ON books(author);
  `)
  const insert = db.prepare('INSERT INTO books VALUES (?, ?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= 2000; i++) insert.run(i, `Book ${i}`, `Author ${i % 150}`, 1900 + (i % 125), 1 + (i % 4))
  })()
  db.close()
}
