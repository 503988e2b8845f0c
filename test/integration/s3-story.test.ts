import Database from 'better-sqlite3'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository, isStrataError } from '@strata/core'
import { s3StoreFixture, type S3StoreFixture } from '@strata/s3/testing'
import { importLiveDatabase, integrityCheck, openBranch } from '@strata/sqlite'

// The whole lifecycle through the library against a real S3 HTTP server (fauxqs behind the
// conditional-write proxy): import → branch → live commit → export → materialize → delete →
// gc → verify.

let fixture: S3StoreFixture
let dir: string
beforeAll(async () => {
  fixture = await s3StoreFixture({ prefix: 'story' })
  dir = await mkdtemp(join(tmpdir(), 'strata-s3-story-'))
})
afterAll(async () => {
  await fixture.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('the throwaway-branch story on S3', () => {
  it('runs end to end and leaves main untouched', async () => {
    const src = join(dir, 'src.db')
    const db = new Database(src)
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);`)
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) ins.run(`value ${i}`)
    })()
    db.close()

    const repo = await Repository.init(fixture.store, { segmentBytes: 256 * 1024 })
    await importLiveDatabase(repo, src, { message: 'import' })
    // The live import copies through SQLite's backup API, which rewrites a few header fields:
    // main's exact bytes are whatever it exported right after the import.
    const mainBefore = join(dir, 'main-before.db')
    await repo.export('main', mainBefore)
    expect(integrityCheck(mainBefore).ok).toBe(true)
    await repo.createBranch('experiment')

    const live = await openBranch(repo, 'experiment', { cacheDir: join(dir, 'cache') })
    live.db.exec(`UPDATE t SET v = 'changed' WHERE id % 100 = 0; DELETE FROM t WHERE id > 4900`)
    const c = await live.commit({ message: 'experiment' })
    expect(c.changed).toBe(true)
    await live.close()

    const out = join(dir, 'experiment.db')
    await repo.export('experiment', out)
    expect(integrityCheck(out).ok).toBe(true)
    const check = new Database(out, { readonly: true })
    expect(check.prepare("SELECT count(*) n FROM t WHERE v = 'changed'").get()).toEqual({ n: 49 })
    expect(check.prepare('SELECT count(*) n FROM t').get()).toEqual({ n: 4900 })
    check.close()

    await repo.materialize('experiment')
    expect((await repo.show('experiment')).fallback).toBeNull()
    const again = join(dir, 'again.db')
    await repo.export('experiment', again)
    expect(Buffer.compare(await readFile(again), await readFile(out))).toBe(0)

    await repo.deleteBranch('experiment')
    const gc = await repo.gc({ graceMs: 0 })
    expect(gc.deleted.length).toBeGreaterThan(0)
    const verify = await repo.verify({ deep: true })
    expect(verify.problems).toEqual([])
    expect(verify.ok).toBe(true)

    const mainOut = join(dir, 'main.db')
    await repo.export('main', mainOut)
    expect(Buffer.compare(await readFile(mainOut), await readFile(mainBefore))).toBe(0)
    const e = await repo.getBranch('experiment').catch((x) => x)
    expect(isStrataError(e, 'STRATA_BRANCH_NOT_FOUND')).toBe(true)
  })
})
