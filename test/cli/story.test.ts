import { copyFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newS3TestLocation, s3TestEnv, s3TestTarget, type S3TestLocation } from '@strata/s3/testing'
import { assertBuilt, dump, json, makeFixture, strata } from './helpers.js'

// The throwaway-branch story of the CLI, end to end, on every kind of store: import a database,
// branch it, run a migration on the branch, export it and compare with the same SQL applied to a
// plain copy of the file, then drop the branch and collect its garbage.

const MIGRATION = [
  'ALTER TABLE users ADD COLUMN plan TEXT',
  "UPDATE users SET plan = CASE WHEN id % 3 = 0 THEN 'pro' ELSE 'free' END",
  'DELETE FROM orders WHERE total % 5 = 0',
  "INSERT INTO orders (user_id, total, note) SELECT id, id * 2, x'00ff' FROM users WHERE id <= 50",
  `CREATE TABLE audit (at TEXT, what TEXT); INSERT INTO audit VALUES ('now', 'it''s; tricky') /* a ; in a comment */`,
  'SELECT plan, count(*) AS n FROM users GROUP BY plan ORDER BY plan',
].join(';\n')

interface Backend {
  name: string
  /** A fresh store location and the environment that reaches it. */
  open(dir: string): Promise<{ store: string; env: Record<string, string>; cleanup(): Promise<void> }>
}

const BACKENDS: Backend[] = [
  {
    name: 'local directory store',
    open: async (dir) => ({ store: join(dir, 'store'), env: {}, cleanup: async () => {} }),
  },
  {
    name: 'S3 store (s3://bucket/prefix)',
    open: async () => {
      const target = s3TestTarget()
      const loc: S3TestLocation = await newS3TestLocation('cli-story', target)
      // The CLI configures S3 from the standard AWS environment only, like any AWS tool.
      const env = s3TestEnv(target)
      return { store: loc.url('strata/repo'), env, cleanup: () => loc.cleanup() }
    },
  },
]

for (const backend of BACKENDS) {
  describe(`strata CLI story on the ${backend.name}`, () => {
    let dir: string
    let ctx: Awaited<ReturnType<Backend['open']>>
    const cli = (...args: string[]) => strata(['--store', ctx.store, ...args], { env: ctx.env, cwd: dir })

    beforeAll(async () => {
      assertBuilt()
      dir = await mkdtemp(join(tmpdir(), 'strata-cli-story-'))
      ctx = await backend.open(dir)
      makeFixture(join(dir, 'app.db'))
    })
    afterAll(async () => {
      await ctx?.cleanup()
      await rm(dir, { recursive: true, force: true })
    })

    it('imports, branches, migrates the branch, exports it identical to a plain copy, then drops and collects it', async () => {
      const init = await cli('init', '--json')
      expect(init.code, init.stderr).toBe(0)
      // The AWS SDK's notice about future Node versions is not the user's business on every run.
      expect(init.stderr).not.toContain('NodeVersionSupportWarning')
      expect(json(init)).toMatchObject({ store: expect.stringMatching(/^(file|s3):\/\//), storeId: expect.any(String) })

      const imported = await cli('import', 'app.db', '-m', 'production copy', '--json')
      expect(imported.code, imported.stderr).toBe(0)
      const imp = json<{ branch: string; snapshot: string; pageCount: number; pageSize: number }>(imported)
      expect(imp).toMatchObject({ branch: 'main', pageSize: 4096 })
      expect(imp.pageCount).toBeGreaterThan(20)

      const created = await cli('branch', 'create', 'try/migration', '--json')
      expect(created.code, created.stderr).toBe(0)
      expect(json(created)).toMatchObject({ name: 'try/migration', head: imp.snapshot, base: imp.snapshot, sourceBranch: 'main' })

      const migrated = await cli('sql', 'try/migration', MIGRATION, '-m', 'add plans', '--json')
      expect(migrated.code, migrated.stderr).toBe(0)
      const mig = json<{ changed: boolean; snapshot: string; results: { columns: string[]; rows: unknown[][] }[]; statements: number }>(migrated)

      // The same SQL on a plain copy of the file, through better-sqlite3 directly.
      const plain = join(dir, 'plain.db')
      copyFileSync(join(dir, 'app.db'), plain)
      const db = new Database(plain)
      db.exec(MIGRATION)
      const expectedRows = db.prepare('SELECT plan, count(*) AS n FROM users GROUP BY plan ORDER BY plan').raw(true).all()
      db.close()

      expect(mig).toMatchObject({ changed: true, statements: 7, results: [{ statement: 7, columns: ['plan', 'n'], rows: expectedRows }] })
      expect(mig.snapshot).not.toBe(imp.snapshot)

      // A read-only statement commits nothing.
      const read = await cli('sql', 'try/migration', 'SELECT count(*) AS c FROM audit', '--json')
      expect(json(read)).toMatchObject({ changed: false, snapshot: mig.snapshot, results: [{ rows: [[1]] }] })

      const exported = await cli('export', 'try/migration', 'branch.db', '--check', '--json')
      expect(exported.code, exported.stderr).toBe(0)
      expect(json(exported)).toMatchObject({ snapshot: mig.snapshot, branch: 'try/migration', check: { ok: true } })
      expect(dump(join(dir, 'branch.db'))).toEqual(dump(plain))

      // main never saw the migration.
      const exportedMain = await cli('export', 'main', 'main.db', '--json')
      expect(exportedMain.code, exportedMain.stderr).toBe(0)
      expect(dump(join(dir, 'main.db'))).toEqual(dump(join(dir, 'app.db')))

      // The branch is stacked on the imported snapshot: one delta over main's pages.
      const shown = json<{ ownPages: number; pageCount: number; chain: { id: string }[] }>(await cli('show', 'try/migration', '--json'))
      expect(shown.chain.map((c) => c.id)).toEqual([mig.snapshot, imp.snapshot])
      expect(shown.ownPages).toBeLessThanOrEqual(shown.pageCount)

      const log = json<{ entries: { id: string; message: string }[] }>(await cli('log', 'try/migration', '--json'))
      expect(log.entries[0]).toMatchObject({ id: mig.snapshot, message: 'add plans' })

      const deleted = await cli('branch', 'delete', 'try/migration', '--json')
      expect(deleted.code, deleted.stderr).toBe(0)
      expect(json(deleted)).toMatchObject({ deleted: 'try/migration' })

      const gc = await cli('gc', '--grace', '0', '--json')
      expect(gc.code, gc.stderr).toBe(0)
      const swept = json<{ dryRun: boolean; freed: { objects: number; snapshots: number } }>(gc)
      expect(swept.dryRun).toBe(false)
      expect(swept.freed.snapshots).toBeGreaterThanOrEqual(1)

      const verify = await cli('verify', '--deep', '--json')
      expect(verify.code, verify.stdout + verify.stderr).toBe(0)
      expect(json(verify)).toMatchObject({ ok: true })

      // What is left still exports the original database.
      const again = await cli('export', 'main', 'main-after-gc.db', '--check', '--json')
      expect(again.code, again.stderr).toBe(0)
      expect(dump(join(dir, 'main-after-gc.db'))).toEqual(dump(join(dir, 'app.db')))
      await writeFile(join(dir, 'done'), '')
    })
  })
}
