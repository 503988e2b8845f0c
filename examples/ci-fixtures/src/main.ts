// One fixture database, a fresh copy of it for every test case — without copying it. The usual
// way gives each case its own copy of the fixture file; here each case gets its own Strata branch
// instead, and both ways run the same cases in the same process so their times compare directly.
// Run with `npm start -w @strata-examples/ci-fixtures` (options: --size-mib 64 --cases 20).

import Database from 'better-sqlite3'
import assert from 'node:assert/strict'
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { LocalStore, Repository } from '@strata/core'
import { openBranch } from '@strata/sqlite'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '64' }, cases: { type: 'string', default: '20' } } })
const sizeMiB = Number(values['size-mib'])
const caseCount = Number(values.cases)

const log = (line: string): void => console.log(line)
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const ms = (t: number): string => `${t.toFixed(1)} ms`

/** Milliseconds spent in each phase of the test cases. */
class Phases {
  setup = 0
  run = 0
  teardown = 0
  get total(): number {
    return this.setup + this.run + this.teardown
  }
  /** Run `fn` and add its time to `phase`. */
  async time<T>(phase: 'setup' | 'run' | 'teardown', fn: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      this[phase] += performance.now() - t0
    }
  }
}

/** Time an async step. */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const out = await fn()
  return [out, performance.now() - t0]
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'strata-ci-fixtures-'))
  try {
    // ---- the fixture: built (or downloaded) once per CI run ----------------------------------
    const fixture = join(work, 'fixture.sqlite')
    buildFixture(fixture, sizeMiB)
    const fixtureBytes = (await stat(fixture)).size

    // ---- way 1: copy the fixture file for every case -----------------------------------------
    const copy = new Phases()
    for (let i = 0; i < caseCount; i++) {
      const path = join(work, `case-${i}.sqlite`)
      const db = await copy.time('setup', async () => {
        await copyFile(fixture, path)
        return new Database(path)
      })
      await copy.time('run', () => runCase(db, i))
      await copy.time('teardown', async () => {
        db.close()
        await rm(path)
      })
    }

    // ---- way 2: a branch for every case -------------------------------------------------------
    // One-time costs: import the fixture into a store (in CI: a bucket every job shares, filled
    // once), then open one live handle, which writes the database to a local working file.
    const repo = await Repository.init(new LocalStore(join(work, 'store')))
    const [imported, importTime] = await timed(() => repo.importDatabase(fixture, { message: 'fixture' }))
    const [live, hydrateTime] = await timed(() => openBranch(repo, 'main', { cacheDir: join(work, 'cache') }))

    const branch = new Phases()
    for (let i = 0; i < caseCount; i++) {
      const name = `ci/case-${i}`
      // Creating a branch writes a ref and a branch record, whatever the fixture's size. The
      // switch rewrites, in place, only the pages the previous case changed — and drops those
      // changes, which nobody committed.
      await branch.time('setup', async () => {
        await live.branches.create(name, { from: 'main' })
        await live.branches.switch(name, { onUncommitted: 'discard' })
      })
      await branch.time('run', () => runCase(live.db, i))
      // A failing case could `live.commit()` here and keep its branch for inspection
      // (`strata export ci/case-7 case-7.sqlite`). A passing one drops its branch as soon as the
      // handle has left it (the open branch cannot be deleted).
      await branch.time('teardown', async () => {
        if (i > 0) await live.branches.delete(`ci/case-${i - 1}`)
      })
    }
    await branch.time('teardown', async () => {
      await live.branches.switch('main', { onUncommitted: 'discard' })
      await live.branches.delete(`ci/case-${caseCount - 1}`)
    })
    await live.close()

    // The cases changed nothing in the store: main is the imported snapshot, the only branch.
    const branches = await repo.listBranches()
    assert.deepEqual(branches.map((b) => [b.name, b.head]), [['main', imported.snapshot]])

    const perCase = (p: Phases): string =>
      `${ms(p.setup / caseCount)} setup + ${ms(p.run / caseCount)} run + ${ms(p.teardown / caseCount)} teardown = ${ms(p.total / caseCount)}/case`
    log(`fixture: ${mib(fixtureBytes)}, ${imported.pageCount} pages of ${imported.pageSize} bytes`)
    log(`${caseCount} test cases, each on its own copy of the fixture; all passed both ways`)
    log(`  file copy: ${perCase(copy)}`)
    log(`  branch:    ${perCase(branch)}`)
    log(`  branch one-time: import ${ms(importTime)} + open a live handle ${ms(hydrateTime)}`)
    log(`speed-up: ${(copy.total / branch.total).toFixed(1)}x per case (setup alone ${(copy.setup / branch.setup).toFixed(1)}x); ${(copy.total / (branch.total + importTime + hydrateTime)).toFixed(1)}x for the whole suite with the one-time costs`)
    log(`disk: ${mib(fixtureBytes)} per case as copies; one working file for the whole suite as branches`)
    log('ok')
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * A fixture of about `mib` MiB: accounts with balances, and a ledger of events whose payloads
 * give the file its size.
 */
function buildFixture(path: string, mib: number): void {
  const db = new Database(path)
  db.exec(`
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
    CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL, payload BLOB);
    CREATE INDEX events_account ON events(account);
  `)
  const accounts = 1000
  const events = Math.ceil((mib * 1024 * 1024) / 1040) // an event takes about 1040 bytes with its index entry
  const a = db.prepare('INSERT INTO accounts (id, owner, balance) VALUES (?, ?, 1000)')
  const e = db.prepare("INSERT INTO events (account, kind, payload) VALUES (?, 'deposit', randomblob(1000))")
  db.transaction(() => {
    for (let i = 1; i <= accounts; i++) a.run(i, `owner ${i}`)
    for (let i = 0; i < events; i++) e.run(1 + (i % accounts))
  })()
  db.close()
}

/**
 * Test case `i`: a transfer between two accounts, then the assertions a test suite would make.
 * It mutates its database, so each case needs its own copy of the fixture.
 */
function runCase(db: Database.Database, i: number): void {
  const from = 1 + (i % 1000)
  const to = 1 + ((i * 7 + 1) % 1000)
  const total = (): number => (db.prepare('SELECT sum(balance) AS s FROM accounts').get() as { s: number }).s
  const balance = (id: number): number => (db.prepare('SELECT balance FROM accounts WHERE id = ?').get(id) as { balance: number }).balance
  // Every case starts from the fixture, untouched by the cases before it.
  assert.equal(db.prepare('SELECT count(*) FROM accounts WHERE balance <> 1000').pluck().get(), 0)
  const before = total()
  db.transaction(() => {
    db.prepare('UPDATE accounts SET balance = balance - 250 WHERE id = ?').run(from)
    db.prepare('UPDATE accounts SET balance = balance + 250 WHERE id = ?').run(to)
    db.prepare("INSERT INTO events (account, kind) VALUES (?, 'transfer')").run(from)
  })()
  assert.equal(balance(from), 750)
  assert.equal(total(), before)
}

await main()
