import { appendFileSync, openSync, closeSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPage, toHex } from '@strata/core/engine'
import { PageHashes, WalTracker, setFormatBytes, type CapturedChanges, type WorkingDatabase } from '../src/index.js'
import { hydrateFile } from '../src/file-working-database.js'
import { blobFor, makeRepo, type TestRepo } from './helpers.js'

/** A working file hydrated from a small branch, its WAL tracker and the committed state it tracks against. */
interface Fixture {
  working: WorkingDatabase
  tracker: WalTracker
  committed: PageHashes
  /** Record `c` as committed, as a live handle does after a successful commit. */
  accept(c: CapturedChanges): void
  dispose(): Promise<void>
}

let t: TestRepo
const STORED = ['delete', 'wal'] as const

beforeAll(async () => {
  t = await makeRepo()
  for (const mode of STORED) {
    const src = join(t.dir, `${mode}.sqlite`)
    const db = new Database(src)
    db.pragma('page_size = 1024')
    db.pragma(`journal_mode = ${mode}`)
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, body BLOB);
             CREATE INDEX items_label ON items(label);
             CREATE TABLE notes (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;`)
    const ins = db.prepare('INSERT INTO items (id, label, body) VALUES (?, ?, ?)')
    db.transaction(() => {
      for (let i = 1; i <= 300; i++) ins.run(i, `item ${i}`, blobFor(i, 50 + ((i * 37) % 1500)))
    })()
    db.close()
    await t.repo.importDatabase(src, { branch: mode })
  }
})
afterAll(async () => t.cleanup())

async function fixture(stored: (typeof STORED)[number]): Promise<Fixture> {
  const info = await t.repo.getBranch(stored)
  const table = await t.repo.resolve(info.head, stored)
  const working = await hydrateFile(t.repo, { snapshot: info.head, branch: stored }, t.cacheDir)
  const f: Fixture = {
    working,
    committed: PageHashes.fromResolved(table),
    tracker: null as unknown as WalTracker,
    accept(c) {
      f.committed = f.committed.withChanges(c.pageCount, c.hashes)
      f.tracker.committed(c)
    },
    dispose: () => working.dispose(),
  }
  f.tracker = new WalTracker({ working, committed: () => f.committed })
  return f
}

/**
 * The changes an independent full scan finds: every page of SQLite's current view
 * (`serialize()` reads WAL frames without checkpointing) hashed against the committed state.
 */
function referenceScan(f: Fixture): { pageCount: number; pages: Record<number, string> } {
  const image = f.working.db.serialize()
  const size = f.working.pageSize
  const pageCount = image.byteLength / size
  const pages: Record<number, string> = {}
  for (let p = 1; p <= pageCount; p++) {
    const page = image.subarray((p - 1) * size, p * size)
    if (p === 1) setFormatBytes(page, f.working.storedFormat)
    const h = hashPage(page)
    if (!f.committed.matches(p, h)) pages[p] = toHex(h)
  }
  return { pageCount, pages }
}

/** Like {@link referenceScan}, through a second, fresh connection: the database as SQLite reads it from disk. */
function diskView(f: Fixture): { pageCount: number; pages: Record<number, string> } {
  const db = new Database(f.working.path!, { readonly: true })
  try {
    return referenceScan({ ...f, working: { ...f.working, db, storedFormat: f.working.storedFormat, pageSize: f.working.pageSize } })
  } finally {
    db.close()
  }
}

function summary(c: CapturedChanges): { pageCount: number; pages: Record<number, string> } {
  const pages: Record<number, string> = {}
  for (const [p, h] of c.hashes) {
    expect(toHex(hashPage(c.writes.get(p)!))).toBe(toHex(h))
    pages[p] = toHex(h)
  }
  return { pageCount: c.pageCount, pages }
}

type Op =
  | { op: 'insert'; n: number; size: number }
  | { op: 'update'; id: number; size: number }
  | { op: 'same'; id: number }
  | { op: 'delete'; from: number; n: number }
  | { op: 'note'; k: number }
  | { op: 'ddl'; which: number }
  | { op: 'vacuum' }
  | { op: 'rollback'; n: number }
  | { op: 'commit' }
  | { op: 'checkpoint'; mode: 'PASSIVE' | 'TRUNCATE' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('insert' as const), n: fc.integer({ min: 1, max: 40 }), size: fc.integer({ min: 10, max: 4000 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('update' as const), id: fc.integer({ min: 1, max: 400 }), size: fc.integer({ min: 10, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('same' as const), id: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), from: fc.integer({ min: 1, max: 400 }), n: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('note' as const), k: fc.integer({ min: 1, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ddl' as const), which: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'vacuum' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rollback' as const), n: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 5, arbitrary: fc.constant({ op: 'commit' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('checkpoint' as const), mode: fc.constantFrom('PASSIVE' as const, 'TRUNCATE' as const) }) },
)

function apply(db: Database.Database, o: Op, step: number): void {
  switch (o.op) {
    case 'insert': {
      const ins = db.prepare('INSERT INTO items (label, body) VALUES (?, ?)')
      db.transaction(() => {
        for (let i = 0; i < o.n; i++) ins.run(`new ${step}/${i}`, blobFor(step * 100 + i, o.size))
      })()
      return
    }
    case 'update':
      db.prepare('UPDATE items SET body = ?, label = ? WHERE id = ?').run(blobFor(step, o.size), `upd ${step}`, o.id)
      return
    case 'same':
      db.prepare('UPDATE items SET label = label WHERE id = ?').run(o.id)
      return
    case 'delete':
      db.prepare('DELETE FROM items WHERE id >= ? AND id < ?').run(o.from, o.from + o.n)
      return
    case 'note':
      db.prepare('INSERT OR REPLACE INTO notes (k, v) VALUES (?, ?)').run(`k${o.k}`, `v${step}`)
      return
    case 'ddl':
      db.exec(
        [
          'CREATE TABLE IF NOT EXISTS extra (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO extra (b) SELECT label FROM items LIMIT 50',
          'DROP TABLE IF EXISTS extra',
          'CREATE INDEX IF NOT EXISTS items_body ON items(length(body))',
          'DROP INDEX IF EXISTS items_body',
        ][o.which]!,
      )
      return
    case 'vacuum':
      db.exec('VACUUM')
      return
    case 'rollback': {
      const ins = db.prepare('INSERT INTO items (label, body) VALUES (?, ?)')
      db.exec('BEGIN')
      for (let i = 0; i < o.n; i++) ins.run(`rolled back ${i}`, blobFor(i, 2000))
      db.exec('ROLLBACK')
      return
    }
    case 'checkpoint':
      db.pragma(`wal_checkpoint(${o.mode})`)
      return
    case 'commit':
      return
  }
}

describe('WalTracker', () => {
  it('finds exactly the changes a full scan finds, on random workloads', async () => {
    let walCaptures = 0
    let fallbacks = 0
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...STORED), fc.array(opArb, { minLength: 4, maxLength: 24 }), async (stored, ops) => {
        const f = await fixture(stored)
        try {
          for (const [step, o] of [...ops, { op: 'commit' as const }].entries()) {
            apply(f.working.db as Database.Database, o, step)
            if (o.op !== 'commit') continue
            const reference = referenceScan(f)
            const c = f.tracker.capture()
            expect(summary(c)).toEqual(reference)
            expect(f.tracker.hasChanges()).toBe(Object.keys(reference.pages).length > 0 || reference.pageCount !== f.committed.pageCount)
            if (c.via === 'wal') walCaptures++
            else fallbacks++
            f.accept(c)
            // Committed: nothing left to find.
            expect(summary(f.tracker.capture())).toEqual({ pageCount: reference.pageCount, pages: {} })
          }
        } finally {
          await f.dispose()
        }
      }),
      { numRuns: 25 },
    )
    // The WAL path did the work; fallbacks followed checkpoints behind its back.
    expect(walCaptures).toBeGreaterThan(3 * fallbacks)
  })

  it('reads only the pages in the WAL, and page 1 only when SQLite wrote it', async () => {
    for (const stored of STORED) {
      const f = await fixture(stored)
      try {
        const pages = f.working.db.pragma('page_count', { simple: true }) as number
        // Same size, no index touched: one leaf page changes, the freelist (on page 1) does not.
        f.working.db.prepare(`UPDATE items SET body = ? WHERE id = 10`).run(blobFor(999, 50 + ((10 * 37) % 1500)))
        const c = f.tracker.capture()
        expect(c).toMatchObject({ via: 'wal' })
        expect(c.pagesScanned).toBe(1)
        expect(c.pagesScanned).toBeLessThan(pages / 100)
        // In WAL mode SQLite bumps the change counter only when page 1 is written anyway.
        expect(c.writes.has(1)).toBe(false)
        f.accept(c)
        f.working.db.exec('CREATE TABLE t2 (x)')
        const d = f.tracker.capture()
        expect(d.writes.has(1)).toBe(true)
        const page1 = d.writes.get(1)!
        expect([page1[18], page1[19]]).toEqual(stored === 'wal' ? [2, 2] : [1, 1])
        // The WAL was checkpointed after the first commit: only the second commit's pages are read.
        expect(d.pagesScanned).toBeLessThan(8)
      } finally {
        await f.dispose()
      }
    }
  })

  describe('falls back to a full scan when the WAL cannot be trusted', () => {
    const frameBytes = (f: Fixture): number => 24 + f.working.pageSize
    const walPath = (f: Fixture): string => f.working.path + '-wal'
    const edit = (path: string, offset: number, bytes: Uint8Array): void => {
      const fd = openSync(path, 'r+')
      writeSync(fd, bytes, 0, bytes.length, offset)
      closeSync(fd)
    }
    /** How a capture must end after the damage: on the WAL path, on a full scan (and whether the WAL path resumes after the commit), or in an error. */
    type Outcome = { via: 'wal' } | { via: 'full-scan'; reason: RegExp; resumes: boolean } | { error: RegExp }
    const CASES: [string, (f: Fixture) => void, Outcome][] = [
      ['a flipped byte in the last frame', (f) => {
        const size = statSync(walPath(f)).size
        const b = readFileSync(walPath(f)).subarray(size - 10, size - 9)
        edit(walPath(f), size - 10, Uint8Array.of(b[0]! ^ 0x40))
      }, { via: 'full-scan', reason: /valid committed frames/, resumes: true }],
      ['another salt in the header', (f) => {
        const b = readFileSync(walPath(f)).subarray(16, 17)
        edit(walPath(f), 16, Uint8Array.of(b[0]! ^ 1))
      }, { via: 'full-scan', reason: /checksum/, resumes: true }],
      ['frames of another salt', (f) => {
        const b = readFileSync(walPath(f)).subarray(32 + 8, 32 + 9)
        edit(walPath(f), 32 + 8, Uint8Array.of(b[0]! ^ 1))
      }, { via: 'full-scan', reason: /valid committed frames/, resumes: true }],
      // SQLite itself cannot read the frames it committed any more: nothing may be committed.
      ['a WAL cut mid-frame', (f) => truncateSync(walPath(f), statSync(walPath(f)).size - 100), { error: /I\/O error/ }],
      // The connection writes on to the unlinked file: the WAL at the path is gone for good.
      ['a missing WAL', (f) => rmSync(walPath(f)), { via: 'full-scan', reason: /missing/, resumes: false }],
      // Frames past the last commit frame are not committed; SQLite ignores them too.
      ['garbage appended to the WAL', (f) => appendFileSync(walPath(f), new Uint8Array(frameBytes(f)).fill(7)), { via: 'wal' }],
      ['a checkpoint behind its back', (f) => void f.working.db.pragma('wal_checkpoint(TRUNCATE)'), { via: 'full-scan', reason: /restarted/, resumes: true }],
      ['a passive checkpoint and a write behind its back', (f) => {
        f.working.db.pragma('wal_checkpoint(PASSIVE)')
        f.working.db.prepare(`UPDATE items SET label = 'after' WHERE id = 7`).run()
      }, { via: 'full-scan', reason: /restarted|main database file changed/, resumes: true }],
      ['a journal mode round trip', (f) => {
        f.working.db.pragma('journal_mode = DELETE')
        f.working.db.pragma('journal_mode = WAL')
      }, { via: 'full-scan', reason: /restarted|main database file changed|wal-index/, resumes: true }],
    ]
    for (const [name, damage, outcome] of CASES) {
      it(name, async () => {
        const f = await fixture('delete')
        try {
          f.working.db.prepare(`UPDATE items SET label = 'changed' WHERE id = 42`).run()
          f.working.db.prepare(`DELETE FROM items WHERE id BETWEEN 100 AND 140`).run()
          damage(f)
          if ('error' in outcome) {
            expect(() => f.tracker.capture()).toThrow(outcome.error)
            return
          }
          const c = f.tracker.capture()
          expect(c.via).toBe(outcome.via)
          if (outcome.via === 'full-scan') expect(c.fallback).toMatch(outcome.reason)
          // The database as SQLite has it now (a fresh connection, so no cached page hides damage).
          expect(summary(c)).toEqual(diskView(f))
          f.accept(c)
          f.working.db.prepare(`UPDATE items SET label = 'again' WHERE id = 43`).run()
          // Without the WAL file, only the connection sees its frames; with damaged frames, its
          // page cache may still hold the undamaged images.
          const reference = outcome.via === 'full-scan' && !outcome.resumes ? referenceScan(f) : diskView(f)
          const d = f.tracker.capture()
          expect(d.via).toBe(outcome.via === 'wal' || outcome.resumes ? 'wal' : 'full-scan')
          expect(summary(d)).toEqual(reference)
        } finally {
          await f.dispose()
        }
      })
    }

    it('a connection closed outside the handle, and in-memory mode', async () => {
      const f = await fixture('wal')
      try {
        f.working.db.prepare(`UPDATE items SET label = 'changed' WHERE id = 42`).run()
        const reference = referenceScan(f)
        f.working.db.close()
        const c = f.tracker.capture()
        expect(c).toMatchObject({ via: 'full-scan', fallback: expect.stringMatching(/closed/) })
        expect(summary(c)).toEqual(reference)
      } finally {
        await f.dispose()
      }
    })
  })
})
