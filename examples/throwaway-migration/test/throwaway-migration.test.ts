import Database from 'better-sqlite3'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'

const here = dirname(fileURLToPath(import.meta.url))
const dirs: string[] = []
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

/** Run the example as `npm start` does. */
function start(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts'), ...args], (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    )
  })
}

/** Main's history length, and its database opened from the store. */
async function mainOf(store: string): Promise<{ history: number; branches: string[]; db: Database.Database }> {
  const repo = await Repository.open(new LocalStore(store))
  try {
    const bytes = await repo.readDatabase('main')
    return {
      history: (await repo.log('main')).length,
      branches: (await repo.listBranches()).map((b) => b.name),
      db: new Database(Buffer.from(bytes)),
    }
  } finally {
    await repo.close()
  }
}

it('discards a migration whose check fails, then promotes one that passes', async () => {
  const work = await mkdtemp(join(tmpdir(), 'strata-migration-test-'))
  dirs.push(work)
  const store = join(work, 'store')

  const broken = await start('--break', '--store', store)
  expect(broken).toMatch(/imported production as main: \d+ rows, \d+ pages/)
  expect(broken).toMatch(/check: FAILED — \d+ orders' totals differ from their line items/)
  expect(broken).toMatch(/discarded: migrate\/order-totals deleted, gc freed [\d.]+ KiB; main is untouched/)
  const untouched = await mainOf(store)
  expect(untouched.history).toBe(1)
  expect(untouched.branches).toEqual(['main'])
  expect((untouched.db.pragma('table_info(orders)') as { name: string }[]).map((c) => c.name)).not.toContain('total_cents')
  untouched.db.close()

  const good = await start('--store', store)
  expect(good).not.toContain('imported production')
  expect(good).toContain('check: passed')
  expect(good).toMatch(/kept: main moved [0-9a-f]{12} → [0-9a-f]{12}; migrate\/order-totals deleted/)
  const migrated = await mainOf(store)
  expect(migrated.history).toBe(2)
  expect(migrated.branches).toEqual(['main'])
  const db = migrated.db
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
  const wrong = db.prepare('SELECT count(*) FROM orders o WHERE total_cents <> (SELECT coalesce(sum(quantity * unit_price_cents), 0) FROM order_items WHERE order_id = o.id)').pluck().get()
  expect(wrong).toBe(0)
  expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'orders_customer_total'").pluck().get()).toBe(1)
  db.close()
})
