import Database from 'better-sqlite3'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core'
import { s3StoreFixture, type S3StoreFixture } from '@strata/s3/testing'
import { importLiveDatabase, openBranch } from '@strata/sqlite'

// A lazy handle over a real S3 HTTP server (fauxqs behind the conditional-write proxy): the
// fetcher thread opens its own S3Store from the store's thread recipe.

let fixture: S3StoreFixture
let dir: string
beforeAll(async () => {
  fixture = await s3StoreFixture({ prefix: 'lazy' })
  dir = await mkdtemp(join(tmpdir(), 'strata-lazy-s3-'))
})
afterAll(async () => {
  await fixture.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('a lazy branch on S3', () => {
  it('reads only what queries touch, commits, and switches lazily between branches', async () => {
    const src = join(dir, 'src.db')
    const db = new Database(src)
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);`)
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 20000; i++) ins.run(`value ${i} ${'x'.repeat(80)}`)
    })()
    db.close()
    const repo = await Repository.init(fixture.store, { segmentBytes: 256 * 1024 })
    await importLiveDatabase(repo, src, { message: 'import' })
    await repo.createBranch('a')
    await repo.createBranch('b')

    const live = await openBranch(repo, 'a', { mode: 'lazy', cacheDir: join(dir, 'cache') })
    expect(live.mode).toBe('lazy')
    expect(live.db.prepare('SELECT v FROM t WHERE id = 12345').get()).toEqual({ v: `value 12344 ${'x'.repeat(80)}` })
    const s = live.lazyStats()!
    expect(s.pagesFetched).toBeLessThan(s.pageCount / 4)
    expect(s.storeRequests).toBeGreaterThan(0)

    live.db.prepare('UPDATE t SET v = ? WHERE id = 12345').run('changed on a')
    const c = await live.commit({ message: 'on a' })
    expect(c).toMatchObject({ changed: true, via: 'wal' })

    await live.branches.switch('b')
    expect(live.mode).toBe('lazy')
    expect(live.current).toBe('b')
    expect(live.db.prepare('SELECT v FROM t WHERE id = 12345').get()).toEqual({ v: `value 12344 ${'x'.repeat(80)}` })
    await live.branches.switch('a')
    expect(live.db.prepare('SELECT v FROM t WHERE id = 12345').get()).toEqual({ v: 'changed on a' })
    expect((live.db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(20000)
    await live.close()

    const check = join(dir, 'a.db')
    await repo.export('a', check)
    const out = new Database(check, { readonly: true })
    expect(out.prepare('SELECT v FROM t WHERE id = 12345').get()).toEqual({ v: 'changed on a' })
    out.close()
  })
})
