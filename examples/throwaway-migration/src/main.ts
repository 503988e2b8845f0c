// A schema migration rehearsed on a throwaway branch of a production-shaped database: migrate,
// check, then promote the branch to main if the check passes or delete it if it fails. Main is
// never touched until the migration has proved itself.
//
//   npm start -w @strata-examples/throwaway-migration                 # check passes: promoted
//   npm start -w @strata-examples/throwaway-migration -- --break      # a buggy backfill: discarded
//
// --store DIR keeps the repository in DIR (run again without --break to migrate it for real);
// without it a temporary directory is used and removed at the end.

import Database from 'better-sqlite3'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalStore, Repository } from '@strata/core'
import { integrityCheck, openBranch } from '@strata/sqlite'

const { values: args } = parseArgs({ options: { break: { type: 'boolean', default: false }, store: { type: 'string' } } })

const BRANCH = 'migrate/order-totals'

// The migration: store each order's total instead of summing its line items on every read.
const MIGRATION = `
  ALTER TABLE orders ADD COLUMN total_cents INTEGER NOT NULL DEFAULT 0;
  UPDATE orders SET total_cents =
    (SELECT coalesce(sum(quantity * unit_price_cents), 0) FROM order_items WHERE order_id = orders.id);
  CREATE INDEX orders_customer_total ON orders(customer_id, total_cents);
`
// The same with a plausible bug: it prices line items at today's product price instead of the
// price paid.
const BROKEN_MIGRATION = `
  ALTER TABLE orders ADD COLUMN total_cents INTEGER NOT NULL DEFAULT 0;
  UPDATE orders SET total_cents =
    (SELECT coalesce(sum(i.quantity * p.price_cents), 0)
       FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = orders.id);
  CREATE INDEX orders_customer_total ON orders(customer_id, total_cents);
`

const log = (line: string): void => console.log(line)
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
const short = (id: string): string => id.slice(0, 12)

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'strata-migration-'))
  const repo = await Repository.openOrInit(new LocalStore(args.store ?? join(work, 'store')))
  try {
    // ---- production: a database imported as main --------------------------------------------
    if (!(await repo.listBranches()).some((b) => b.name === 'main')) {
      const prod = join(work, 'prod.sqlite')
      const rows = buildProduction(prod)
      const imported = await repo.importDatabase(prod, { message: 'production snapshot' })
      log(`imported production as main: ${rows} rows, ${imported.pageCount} pages (${kib((await stat(prod)).size)}), snapshot ${short(imported.snapshot)}`)
    }
    const mainBefore = await repo.getBranch('main')

    // ---- the throwaway branch -----------------------------------------------------------------
    // O(1): a ref and a branch record, no page copied. The TTL is a safety net: if this process
    // dies before deciding, `gc` (or `strata gc`) removes the forgotten branch after a day.
    await repo.createBranch(BRANCH, { from: 'main', ttlMs: 24 * 60 * 60 * 1000 })
    const live = await openBranch(repo, BRANCH, { cacheDir: join(work, 'cache') })
    log(`created ${BRANCH} from main and opened it as a live SQLite database`)

    if (columnsOf(live.db, 'orders').includes('total_cents')) {
      log('main is migrated already: nothing to do')
      await live.close()
      await repo.deleteBranch(BRANCH)
      return
    }

    // ---- migrate on the branch, commit, check -----------------------------------------------
    const before = rowCounts(live.db)
    live.db.transaction(() => live.db.exec(args.break ? BROKEN_MIGRATION : MIGRATION))()
    const commit = await live.commit({ message: 'add orders.total_cents', author: 'migration-bot' })
    log(`migrated ${BRANCH}: ${commit.pagesChanged} of ${commit.pageCount} pages changed, ${kib(commit.bytesWritten)} written to the store`)

    const problems = check(live.db, before)
    log(`check: ${problems.length === 0 ? 'passed' : `FAILED — ${problems.join('; ')}`}`)

    if (problems.length === 0) {
      // ---- keep: the branch's database becomes main's new head --------------------------------
      // Compare-and-swap on the head main had when we branched: had anyone committed to main
      // meanwhile, this would throw ConflictError instead of overwriting their work.
      const promoted = await live.branches.overwrite('main', { expectedHead: mainBefore.head, message: 'migration: orders.total_cents' })
      await live.close()
      await repo.deleteBranch(BRANCH)
      log(`kept: main moved ${short(mainBefore.head)} → ${short(promoted.snapshot)}; ${BRANCH} deleted`)
    } else {
      // ---- discard: delete the branch; gc frees what only it referenced ----------------------
      await live.close()
      await repo.deleteBranch(BRANCH)
      // graceMs 0 is safe only because nothing else writes to this store right now.
      const gc = await repo.gc({ graceMs: 0 })
      const mainNow = await repo.getBranch('main')
      log(`discarded: ${BRANCH} deleted, gc freed ${kib(gc.freed.bytes)}; main is ${mainNow.head === mainBefore.head ? 'untouched' : 'CHANGED'} at ${short(mainNow.head)}`)
    }
  } finally {
    await repo.close()
    await rm(work, { recursive: true, force: true })
  }
}

/** Rows per table. */
function rowCounts(db: Database.Database): Record<string, number> {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[]
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get() as number]))
}

/** The column names of `table`. */
function columnsOf(db: Database.Database, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name)
}

/** What a migration must not break; returns the problems found (none: it may be kept). */
function check(db: Database.Database, before: Record<string, number>): string[] {
  const problems: string[] = []
  const after = rowCounts(db)
  for (const [table, n] of Object.entries(before)) {
    if (after[table] !== n) problems.push(`${table} has ${after[table]} rows, had ${n}`)
  }
  const integrity = integrityCheck(db)
  if (!integrity.ok) problems.push(`integrity_check: ${integrity.messages.join(', ')}`)
  // The business invariant: an order's total is what its line items cost when it was placed.
  const wrong = db
    .prepare('SELECT count(*) FROM orders o WHERE total_cents <> (SELECT coalesce(sum(quantity * unit_price_cents), 0) FROM order_items WHERE order_id = o.id)')
    .pluck()
    .get() as number
  if (wrong > 0) problems.push(`${wrong} orders' totals differ from their line items`)
  return problems
}

/**
 * A production-shaped shop database: customers, products, orders and their line items, with
 * indexes; about 35,000 rows. Seeded, so every run builds the same data. Some products changed
 * price since they were ordered, as real ones do. Returns the number of rows.
 */
function buildProduction(path: string): number {
  let seed = 42
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const db = new Database(path)
  db.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, country TEXT NOT NULL);
    CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, price_cents INTEGER NOT NULL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), placed_at TEXT NOT NULL, status TEXT NOT NULL);
    CREATE TABLE order_items (
      order_id INTEGER NOT NULL REFERENCES orders(id), product_id INTEGER NOT NULL REFERENCES products(id),
      quantity INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, product_id)
    ) WITHOUT ROWID;
    CREATE INDEX orders_customer ON orders(customer_id);
    CREATE INDEX orders_placed ON orders(placed_at);
    CREATE INDEX order_items_product ON order_items(product_id);
  `)
  const countries = ['DE', 'FR', 'NL', 'SE', 'US', 'JP', 'BR']
  const statuses = ['paid', 'shipped', 'delivered', 'refunded']
  const price = new Map<number, number>()
  db.transaction(() => {
    const c = db.prepare('INSERT INTO customers VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= 4000; i++) c.run(i, `Customer ${i}`, `customer${i}@example.com`, countries[rand(countries.length)])
    const p = db.prepare('INSERT INTO products VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= 500; i++) {
      price.set(i, 199 + rand(20_000))
      p.run(i, `SKU-${String(i).padStart(5, '0')}`, `Product ${i}`, price.get(i))
    }
    const o = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?)')
    const item = db.prepare('INSERT OR IGNORE INTO order_items VALUES (?, ?, ?, ?)')
    for (let i = 1; i <= 15_000; i++) {
      const day = new Date(Date.UTC(2023, 0, 1) + rand(730) * 86_400_000).toISOString().slice(0, 10)
      o.run(i, 1 + rand(4000), day, statuses[rand(statuses.length)])
      for (let k = 1 + rand(4); k > 0; k--) {
        const product = 1 + rand(500)
        item.run(i, product, 1 + rand(5), price.get(product))
      }
    }
    // Prices move on after orders were placed.
    db.prepare('UPDATE products SET price_cents = price_cents + 100 WHERE id % 3 = 0').run()
  })()
  const rows = Object.values(rowCounts(db)).reduce((a, b) => a + b, 0)
  db.close()
  return rows
}

await main()
