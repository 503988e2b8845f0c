#!/usr/bin/env node
// The main job, end to end, on the embedded local-directory store: make a small SQLite
// database, import it, branch it, run a migration on the branch, export the branch and check
// it, drop the branch, collect its garbage and verify the store. Every step runs the built
// `strata` CLI exactly as a person would type it, and the demo stops at the first failure.
//
//   node packages/cli/scripts/demo.mjs [--keep]     (or: npm run demo)
//
// Everything happens in a fresh temporary directory, removed at the end unless --keep is given.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'strata.js')
if (!existsSync(bin)) {
  console.error('strata is not built yet: run `npm run build` first')
  process.exit(1)
}
const keep = process.argv.includes('--keep')
const work = mkdtempSync(join(tmpdir(), 'strata-demo-'))
const store = join(work, 'store')

// A production-shaped database: customers and their orders, with an index.
const source = join(work, 'shop.db')
const db = new Database(source)
db.exec(`
  CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
  CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), cents INTEGER NOT NULL);
  CREATE INDEX orders_by_customer ON orders(customer_id);
`)
const addCustomer = db.prepare('INSERT INTO customers (name, email) VALUES (?, ?)')
const addOrder = db.prepare('INSERT INTO orders (customer_id, cents) VALUES (?, ?)')
db.transaction(() => {
  for (let i = 1; i <= 5000; i++) {
    addCustomer.run(`customer ${i}`, `c${i}@example.com`)
    for (let j = 0; j < 3; j++) addOrder.run(i, (i * 37 + j * 101) % 10_000)
  }
})()
db.close()

console.log(`# working in ${work}`)
console.log('# STRATA_STORE points every command at a local-directory store')
const steps = [
  ['init'],
  ['import', source, '-m', 'nightly copy of production'],
  ['branch', 'create', 'try/loyalty'],
  ['sql', 'try/loyalty', "ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'basic'; UPDATE customers SET tier = 'gold' WHERE id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING sum(cents) > 20000)", '-m', 'add loyalty tiers'],
  ['sql', 'try/loyalty', 'SELECT tier, count(*) AS customers FROM customers GROUP BY tier ORDER BY tier'],
  ['sql', 'main', 'SELECT count(*) AS customers_on_main FROM customers'],
  ['branch', 'list'],
  ['show', 'try/loyalty'],
  ['export', 'try/loyalty', join(work, 'loyalty.db'), '--check'],
  ['branch', 'delete', 'try/loyalty'],
  ['gc', '--grace', '0'],
  ['verify', '--deep'],
]
let failed = false
for (const args of steps) {
  console.log(`\n$ strata ${args.map(quote).join(' ')}`)
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', env: { ...process.env, STRATA_STORE: store } })
  if (r.status !== 0) {
    console.error(`\ndemo failed: \`strata ${args[0]}\` exited with ${r.status ?? r.signal}`)
    failed = true
    break
  }
}
if (keep || failed) console.log(`\n# kept ${work}`)
else rmSync(work, { recursive: true, force: true })
if (failed) process.exit(1)
console.log('\ndemo ok')

function quote(a) {
  return /^[\w./:=@-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, '\\$1')}"`
}
