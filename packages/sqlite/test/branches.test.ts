import { join } from 'node:path'
import { isStrataError } from '@strata/core'
import { describe, expect, it } from 'vitest'
import { InvalidStateError, UncommittedChangesError, openBranch, type LiveBranch } from '../src/index.js'
import { contentSummary, type ContentSummary } from './content.js'
import { buildDatabase, exportBytes, makeRepo, type TestRepo } from './helpers.js'

/** A repository whose `main` holds a small realistic database. */
async function seeded(): Promise<TestRepo> {
  const t = await makeRepo()
  const src = join(t.dir, 'source.sqlite')
  buildDatabase(src, { scale: 0.1 })
  await t.repo.importDatabase(src)
  return t
}

const countOf = (live: LiveBranch, sql: string): number => (live.db.prepare(sql).get() as { n: number }).n

for (const mode of ['file', 'memory', 'lazy'] as const) {
  describe(`branches of a live handle (${mode} mode)`, () => {
    it('keeps two branches diverging from one parent apart across commits and switches', async () => {
      const t = await seeded()
      try {
        const mainBefore = await exportBytes(t.repo, 'main', t.dir)
        const live = await openBranch(t.repo, 'main', { mode, cacheDir: t.cacheDir })
        await live.branches.create('left')
        await live.branches.create('right')
        const expected: Record<string, ContentSummary> = {}
        for (let round = 1; round <= 3; round++) {
          for (const side of ['left', 'right']) {
            const sw = await live.branches.switch(side)
            expect(sw.branch).toBe(side)
            expect(live.current).toBe(side)
            if (expected[side]) expect(contentSummary(live.db)).toEqual(expected[side])
            live.db.exec(`CREATE TABLE IF NOT EXISTS ${side}_notes (round INTEGER, body TEXT)`)
            live.db.prepare(`INSERT INTO ${side}_notes VALUES (?, ?)`).run(round, `${side} ${round}`)
            live.db.prepare(side === 'left' ? 'UPDATE users SET name = name || ? WHERE id % 3 = 0' : 'DELETE FROM orders WHERE id % ? = 0').run(side === 'left' ? `/${round}` : 5 + round)
            expected[side] = contentSummary(live.db)
            const c = await live.commit({ message: `${side} ${round}` })
            expect(c.changed).toBe(true)
          }
        }
        expect(expected.left).not.toEqual(expected.right)
        await live.close()

        for (const side of ['left', 'right']) {
          const r = await openBranch(t.repo, side, { mode, cacheDir: t.cacheDir })
          expect(contentSummary(r.db)).toEqual(expected[side])
          expect(r.db.prepare(`SELECT count(*) AS n FROM ${side}_notes`).get()).toEqual({ n: 3 })
          await r.close()
          // Every commit is a delta against the same base: the chain stays one level deep.
          const show = await t.repo.show(side)
          expect(show.chain).toHaveLength(2)
          expect((await t.repo.log(side)).map((e) => e.message).slice(0, 3)).toEqual([`${side} 3`, `${side} 2`, `${side} 1`])
        }
        expect((await exportBytes(t.repo, 'main', t.dir)).equals(mainBefore)).toBe(true)
      } finally {
        await t.cleanup()
      }
    })

    it('switch refuses uncommitted changes by default, or commits or discards them when told', async () => {
      const t = await seeded()
      try {
        await t.repo.createBranch('a')
        await t.repo.createBranch('b')
        const live = await openBranch(t.repo, 'a', { mode, cacheDir: t.cacheDir })
        const headA = live.head
        live.db.exec(`INSERT INTO kv VALUES ('switch', 'pending')`)

        const refused = await live.branches.switch('b').catch((e: unknown) => e)
        expect(refused).toBeInstanceOf(UncommittedChangesError)
        expect(isStrataError(refused, 'STRATA_UNCOMMITTED_CHANGES')).toBe(true)
        expect(live.current).toBe('a')
        expect(live.head).toBe(headA)
        expect(await live.hasUncommittedChanges()).toBe(true)
        expect(countOf(live, `SELECT count(*) AS n FROM kv WHERE k = 'switch'`)).toBe(1)

        const unknown = await live.branches.switch('nope', { onUncommitted: 'commit' }).catch((e: unknown) => e)
        expect(isStrataError(unknown, 'STRATA_BRANCH_NOT_FOUND')).toBe(true)
        expect(live.head).toBe(headA)
        expect(await live.hasUncommittedChanges()).toBe(true)

        const oldDb = live.db
        const committed = await live.branches.switch('b', { onUncommitted: 'commit', message: 'saved on switch', author: 'me' })
        expect(committed.commit?.changed).toBe(true)
        expect(committed.branch).toBe('b')
        expect(oldDb.open).toBe(false)
        expect(live.db).not.toBe(oldDb)
        expect(countOf(live, `SELECT count(*) AS n FROM kv WHERE k = 'switch'`)).toBe(0)
        const [saved] = await t.repo.log('a', { limit: 1 })
        expect(saved).toMatchObject({ message: 'saved on switch', author: 'me' })

        const headB = live.head
        live.db.exec(`UPDATE users SET name = 'gone' WHERE id < 100`)
        const discarded = await live.branches.switch('a', { onUncommitted: 'discard' })
        expect(discarded.commit).toBeNull()
        expect((await t.repo.getBranch('b')).head).toBe(headB)
        expect(countOf(live, `SELECT count(*) AS n FROM kv WHERE k = 'switch'`)).toBe(1)
        expect(countOf(live, `SELECT count(*) AS n FROM users WHERE name = 'gone'`)).toBe(0)
        await live.close()
      } finally {
        await t.cleanup()
      }
    })

    it('close requires an explicit decision about uncommitted changes', async () => {
      const t = await seeded()
      try {
        await t.repo.createBranch('c')
        const live = await openBranch(t.repo, 'c', { mode, cacheDir: t.cacheDir })
        const head = live.head
        live.db.exec(`UPDATE products SET price = price * 2`)
        const err = await live.close().catch((e: unknown) => e)
        expect(err).toBeInstanceOf(UncommittedChangesError)
        expect(live.closed).toBe(false)
        expect(countOf(live, 'SELECT count(*) AS n FROM products')).toBeGreaterThan(0)

        expect(await live.close({ uncommitted: 'discard' })).toBeNull()
        expect(live.closed).toBe(true)
        expect((await t.repo.getBranch('c')).head).toBe(head)
        expect(() => live.db).toThrow(InvalidStateError)
        await expect(live.commit()).rejects.toBeInstanceOf(InvalidStateError)
        await expect(live.branches.list()).rejects.toBeInstanceOf(InvalidStateError)
        expect(await live.close()).toBeNull()

        const again = await openBranch(t.repo, 'c', { mode, cacheDir: t.cacheDir })
        again.db.exec(`UPDATE products SET price = price * 2`)
        const priced = contentSummary(again.db)
        const result = await again.close({ uncommitted: 'commit', message: 'on close' })
        expect(result?.changed).toBe(true)
        expect((await t.repo.getBranch('c')).head).toBe(result?.snapshot)
        const check = await openBranch(t.repo, 'c', { mode, cacheDir: t.cacheDir })
        expect(contentSummary(check.db)).toEqual(priced)
        // A clean handle closes without an option.
        expect(await check.close()).toBeNull()
      } finally {
        await t.cleanup()
      }
    })

    it('overwrite promotes the current state onto another branch, with compare-and-swap', async () => {
      const t = await seeded()
      try {
        const live = await openBranch(t.repo, 'main', { mode, cacheDir: t.cacheDir })
        await live.branches.create('exp')
        expect((await live.branches.list()).map((b) => b.name)).toEqual(['exp', 'main'])
        await live.branches.switch('exp')
        live.db.exec(`CREATE TABLE migrated (id INTEGER PRIMARY KEY); INSERT INTO migrated VALUES (1), (2); DROP INDEX orders_user`)
        await live.commit({ message: 'migration step 1' })
        live.db.exec(`INSERT INTO migrated VALUES (3)`)
        const state = contentSummary(live.db)
        const expHead = live.head
        const mainHead = (await t.repo.getBranch('main')).head

        const stale = await live.branches.overwrite('main', { expectedHead: expHead }).catch((e: unknown) => e)
        expect(isStrataError(stale, 'STRATA_CONFLICT')).toBe(true)
        expect((await t.repo.getBranch('main')).head).toBe(mainHead)

        const promoted = await live.branches.overwrite('main', { message: 'promote exp' })
        expect(promoted.changed).toBe(true)
        expect(promoted.branch).toBe('main')
        expect(promoted.previous).toBe(mainHead)
        // The handle stays on exp, whose uncommitted change stays uncommitted.
        expect(live.current).toBe('exp')
        expect(live.head).toBe(expHead)
        expect(await live.hasUncommittedChanges()).toBe(true)
        const [entry] = await t.repo.log('main', { limit: 1 })
        expect(entry).toMatchObject({ message: 'promote exp', operation: 'overwrite' })

        const main = await openBranch(t.repo, 'main', { mode, cacheDir: t.cacheDir })
        expect(contentSummary(main.db)).toEqual(state)
        await main.close()

        await expect(live.branches.delete('exp')).rejects.toBeInstanceOf(InvalidStateError)
        await expect(live.branches.delete('main')).rejects.toSatisfy((e: unknown) => isStrataError(e, 'STRATA_PROTECTED_BRANCH'))
        await live.close({ uncommitted: 'discard' })
      } finally {
        await t.cleanup()
      }
    })

    it('a stale handle gets ConflictError, keeps its changes, and can force them with overwrite', async () => {
      const t = await seeded()
      try {
        await t.repo.createBranch('shared')
        const one = await openBranch(t.repo, 'shared', { mode, cacheDir: t.cacheDir })
        const two = await openBranch(t.repo, 'shared', { mode, cacheDir: t.cacheDir })
        one.db.exec(`INSERT INTO kv VALUES ('writer', 'one')`)
        two.db.exec(`INSERT INTO kv VALUES ('writer', 'two')`)
        const first = await one.commit({ message: 'one' })
        const lost = await two.commit({ message: 'two' }).catch((e: unknown) => e)
        expect(isStrataError(lost, 'STRATA_CONFLICT')).toBe(true)
        expect((await t.repo.getBranch('shared')).head).toBe(first.snapshot)
        expect(await two.hasUncommittedChanges()).toBe(true)

        const forced = await two.branches.overwrite('shared', { message: 'two wins' })
        expect(forced.previous).toBe(first.snapshot)
        expect(two.head).toBe(forced.snapshot)
        expect(await two.hasUncommittedChanges()).toBe(false)
        expect((await two.commit()).changed).toBe(false)
        const r = await openBranch(t.repo, 'shared', { mode, cacheDir: t.cacheDir })
        expect(r.db.prepare(`SELECT v FROM kv WHERE k = 'writer'`).get()).toEqual({ v: 'two' })
        await r.close()
        await one.close({ uncommitted: 'discard' })
        await two.close()
      } finally {
        await t.cleanup()
      }
    })
  })
}

describe('live handle state', () => {
  it('refuses to commit while a query is still being iterated', async () => {
    const t = await seeded()
    try {
      for (const mode of ['file', 'memory', 'lazy'] as const) {
        const live = await openBranch(t.repo, 'main', { mode, cacheDir: t.cacheDir })
        live.db.exec(`INSERT INTO kv VALUES ('iter-${mode}', 'x')`)
        const rows = live.db.prepare('SELECT * FROM orders').iterate()
        rows.next()
        await expect(live.commit()).rejects.toBeInstanceOf(InvalidStateError)
        rows.return?.()
        expect((await live.commit()).changed).toBe(true)
        await live.close()
      }
    } finally {
      await t.cleanup()
    }
  })

  it('commits a working file whose connection was closed outside the handle; in memory that content is gone', async () => {
    const t = await seeded()
    try {
      const file = await openBranch(t.repo, 'main', { mode: 'file', cacheDir: t.cacheDir })
      file.db.exec(`INSERT INTO kv VALUES ('closed', 'file')`)
      file.db.close()
      expect((await file.commit({ message: 'after close' })).changed).toBe(true)
      await file.close()
      const check = await openBranch(t.repo, 'main', { mode: 'memory' })
      expect(check.db.prepare(`SELECT v FROM kv WHERE k = 'closed'`).get()).toEqual({ v: 'file' })
      check.db.exec(`DELETE FROM kv WHERE k = 'closed'`)
      check.db.close()
      await expect(check.commit()).rejects.toBeInstanceOf(InvalidStateError)
      await expect(check.close()).rejects.toBeInstanceOf(InvalidStateError)
      await check.close({ uncommitted: 'discard' })
    } finally {
      await t.cleanup()
    }
  })

  it('refuses to commit inside an open SQL transaction', async () => {
    const t = await seeded()
    try {
      const live = await openBranch(t.repo, 'main', { cacheDir: t.cacheDir })
      live.db.exec('BEGIN')
      live.db.exec(`INSERT INTO kv VALUES ('tx', 'open')`)
      await expect(live.commit()).rejects.toBeInstanceOf(InvalidStateError)
      live.db.exec('COMMIT')
      expect((await live.commit()).changed).toBe(true)
      await live.close()
    } finally {
      await t.cleanup()
    }
  })
})
