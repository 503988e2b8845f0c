// A shared base database in a team bucket, and a developer's cheap branches in a local store
// that hold only their own deltas. Run with `npm start -w @strata-examples/shared-base`.
//
// BASE_URL=s3://bucket/prefix (plus the usual AWS_* variables) uses a real bucket; without it a
// local S3 test server is started on 127.0.0.1, so the example runs offline.

import Database from 'better-sqlite3'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalStore, Repository, type ObjectStore } from '@strata/core'
import { S3Store, type S3StoreOptions } from '@strata/s3'
import { createTestBucket, localTarget, startTestS3, type TestS3 } from '@strata/s3/testing'
import { integrityCheck, openBranch } from '@strata/sqlite'

const log = (line: string): void => console.log(line)
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'strata-shared-base-'))
  let server: TestS3 | null = null
  const toClose: ObjectStore[] = []
  try {
    // ---- where the base lives ----------------------------------------------------------------
    let baseUrl = process.env.BASE_URL
    let s3Options: S3StoreOptions = {}
    if (!baseUrl) {
      server = await startTestS3()
      await createTestBucket(server.endpoint, 'team-base')
      baseUrl = 's3://team-base/prod'
      s3Options = localTarget(server.endpoint).options
      log(`local S3 test server at ${server.endpoint}`)
    }
    const openS3 = (url: string): S3Store => {
      const s = S3Store.fromUrl(url, s3Options)
      toClose.push(s)
      return s
    }

    // ---- the team: a base database in the shared bucket ----------------------------------------
    const team = await Repository.openOrInit(openS3(baseUrl))
    if (!(await team.listBranches()).some((b) => b.name === 'main')) {
      const src = join(work, 'prod.db')
      buildDatabase(src)
      const imported = await team.importDatabase(src, { message: 'nightly production snapshot' })
      log(`team: imported main into ${baseUrl}: ${imported.pageCount} pages (${kib((await stat(src)).size)})`)
    }
    const baseHead = (await team.getBranch('main')).head

    // ---- a developer: a local store that allows exactly that one other store -------------------
    const mine = await Repository.openOrInit(new LocalStore(join(work, 'my-branches')), {
      allowStores: [baseUrl],
      openStore: (url) => openS3(url),
    })
    const branch = await mine.createBranch('alice/migration', { from: `${baseUrl}#main` })
    const x = branch.crossStore!
    log(`dev: created ${branch.name} from ${baseUrl}#main — stub ${branch.head.slice(0, 12)} stacks on ${x.snapshot.slice(0, 12)}; ${x.pinned ? 'pinned in the base' : `UNPINNED (${x.unpinnedReason})`}`)

    const live = await openBranch(mine, 'alice/migration', { cacheDir: join(work, 'cache') })
    live.db.exec(`
      ALTER TABLE orders ADD COLUMN note TEXT;
      UPDATE orders SET note = 'priority' WHERE id <= 25;
      CREATE INDEX orders_note ON orders(note);
    `)
    const commit = await live.commit({ message: 'add orders.note', author: 'alice' })
    await live.close()
    log(`dev: committed ${commit.pagesChanged} changed page(s) of ${commit.pageCount}; uploaded ${kib(commit.bytesWritten)} to the local store, nothing to the base`)

    const show = await mine.show('alice/migration')
    log(`dev: the chain reads ${show.chain.map((l) => `${l.id.slice(0, 8)}@${l.store.startsWith('file:') ? 'local' : l.store}`).join(' → ')}`)
    for (const d of await mine.crossStoreDependencies()) {
      log(`dev: depends on store ${d.storeId} at ${d.url} (${d.status}): ${d.snapshots.map((s) => `${s.snapshot.slice(0, 12)} ${s.pinned ? 'pinned' : 'UNPINNED'}`).join(', ')}`)
    }

    const out = join(work, 'migration.sqlite')
    await mine.export('alice/migration', out)
    const report = integrityCheck(out)
    const db = new Database(out, { readonly: true })
    const notes = (db.prepare("SELECT count(*) AS n FROM orders WHERE note = 'priority'").get() as { n: number }).n
    db.close()
    log(`dev: exported ${out.split('/').pop()} — integrity ${report.ok ? 'ok' : 'FAILED'}, ${notes} priority orders`)

    // Materialize copies every page into the local store: the branch stops needing the base.
    await mine.materialize('alice/migration')
    log(`dev: materialized; the chain is now ${(await mine.show('alice/migration')).chain.length} level, local only`)

    // Done with it: delete the branch, collect the local garbage (no history kept, no grace: this
    // example is the only writer), then give back the pin so the team's gc may free the snapshot.
    await mine.deleteBranch('alice/migration')
    const retention = { keepLast: 1, keepWithinMs: 0 }
    await mine.gc({ graceMs: 0, retention })
    const pruned = await mine.prunePins({ graceMs: 0 })
    log(`dev: deleted the branch; removed ${pruned.removed.length} pin(s) from the base`)
    log(`team: pins left in ${baseUrl}: ${(await team.listPins()).length}; main is still ${(await team.getBranch('main')).head === baseHead ? 'unchanged' : 'CHANGED'}`)
    await mine.close()
    log('ok')
  } finally {
    await Promise.allSettled(toClose.map((s) => s.close?.()))
    await server?.stop()
    await rm(work, { recursive: true, force: true })
  }
}

/** A small production-shaped database: customers and orders with an index. */
function buildDatabase(path: string): void {
  const db = new Database(path)
  db.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customers(id), total REAL, placed TEXT);
    CREATE INDEX orders_customer ON orders(customer);
  `)
  const c = db.prepare('INSERT INTO customers (name, email) VALUES (?, ?)')
  const o = db.prepare('INSERT INTO orders (customer, total, placed) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 1; i <= 2000; i++) c.run(`customer ${i}`, `c${i}@example.com`)
    for (let i = 1; i <= 20000; i++) o.run(1 + (i % 2000), (i * 7) % 1000, `2024-01-${String(1 + (i % 28)).padStart(2, '0')}`)
  })()
  db.close()
}

await main()
