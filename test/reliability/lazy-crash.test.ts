import Database from 'better-sqlite3'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { tempDir, type TempDir } from '@strata/core/testing'
import { startWorker, waitForExit } from './support/run-node.js'

// SIGKILL a process that reads a branch lazily and commits to it, at random moments (during
// lazy fetches, during commits): the branch is at a state before or after a commit, never a
// mix, and verify --deep passes.

const TRIALS = 2

let work: TempDir
let storeDir: string
beforeAll(async () => {
  work = await tempDir('strata-lazy-crash-')
  storeDir = join(work.path, 'store')
  const src = join(work.path, 'src.db')
  const db = new Database(src)
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE meta (round INTEGER); INSERT INTO meta VALUES (0)')
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
  db.transaction(() => {
    for (let i = 0; i < 20000; i++) ins.run(`round 0 ${'y'.repeat(100)}`)
  })()
  db.exec(`UPDATE t SET v = 'round 0'`)
  db.close()
  const repo = await Repository.init(new LocalStore(storeDir))
  await repo.importDatabase(src)
  await repo.createBranch('work')
})
afterAll(async () => work?.cleanup())

describe('a lazy writer killed at random moments', () => {
  it('leaves the branch at a whole committed state that verify --deep accepts', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const child = startWorker('lazy-writer.ts', { storeDir, cacheDir: join(work.path, `cache-${trial}`) })
      const exited = waitForExit(child)
      // The first trial dies while reading lazily, the second while committing: a random moment
      // (0–30 ms) after that phase of round 2 began.
      const phase = trial % 2 === 0 ? 'reading' : 'committing'
      const target = `${phase} ${2 + (trial >> 1)}`
      let aimed = false
      child.stdout!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n').filter(Boolean)) {
          if (line !== target || aimed) continue
          aimed = true
          setTimeout(() => child.kill('SIGKILL'), Math.random() * 30)
        }
      })
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
      const exit = await exited
      clearTimeout(guard)
      expect(exit.signal, exit.stderr).toBe('SIGKILL')
      expect(aimed).toBe(true)

      const repo = await Repository.open(new LocalStore(storeDir))
      const report = await repo.verify({ deep: true })
      expect(report.ok, JSON.stringify(report.problems)).toBe(true)
      const out = join(work.path, `work-${trial}.db`)
      await repo.export('work', out)
      const db = new Database(out, { readonly: true })
      const round = (db.prepare('SELECT round FROM meta').get() as { round: number }).round
      // Every stamped row carries the meta round: no commit is half there.
      const stamps = db.prepare('SELECT v, count(*) AS n FROM t WHERE id % 10 = 0 GROUP BY v').all() as { v: string; n: number }[]
      expect(stamps).toEqual([{ v: `round ${round}`, n: 2000 }])
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
      db.close()
    }
  }, 120_000)
})
