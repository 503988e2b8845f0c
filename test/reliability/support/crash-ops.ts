import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalStore, Repository, type RepositoryOptions } from '@strata/core'
import { syntheticDb, writeDb } from './databases.js'
import { stampedPage } from './pages.js'

/** The operations the crash harness interrupts (`materialize` by reference, `materialize-copy` with `copy`). */
export type CrashOp = 'import' | 'commit' | 'materialize' | 'materialize-copy' | 'gc'

/** All of them, in report order. */
export const CRASH_OPS: readonly CrashOp[] = ['import', 'commit', 'materialize', 'materialize-copy', 'gc']

export const PAGE_SIZE = 512
export const PAGES = 128

/** Small segments (8 pages), so every operation writes many objects and a kill has many places to land. */
export const REPO_OPTIONS: RepositoryOptions = { segmentBytes: 8 * PAGE_SIZE, concurrency: 4 }

/** The database that is imported (and that every other operation starts from). */
export const baseDb = (): Uint8Array => syntheticDb(PAGE_SIZE, PAGES)

/** The writes of the commit that is interrupted: 43 pages, some rewriting the branch's earlier delta, one growing the file. */
export function crashCommitWrites(): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = []
  for (let p = 3; p <= PAGES; p += 3) out.push([p, stampedPage(PAGE_SIZE, p, 1, 2)])
  out.push([PAGES + 1, stampedPage(PAGE_SIZE, PAGES + 1, 1, 2)])
  return out
}

/** The store inside a trial directory. */
export const storeDir = (dir: string): string => join(dir, 'store')
/** The database file inside a trial directory (what import reads). */
export const dbFile = (dir: string): string => join(dir, 'base.db')

/**
 * Build, in `dir`, the state the operation starts from: a store (and for import, the file to
 * import). Import: an empty repository. Commit: `main` and a branch `b` whose head owns a delta.
 * Materialize (either way): `b` stacked on `main` with two commits. Gc: `b` with history plus two deleted
 * branches' worth of garbage, with old segments mostly dead so compaction has work too.
 */
export async function prepare(op: CrashOp, dir: string): Promise<void> {
  await writeDb(dir, 'base.db', baseDb())
  const repo = await Repository.init(new LocalStore(storeDir(dir)), REPO_OPTIONS)
  if (op === 'import') return
  await repo.importDatabase(dbFile(dir))
  await repo.createBranch('b')
  const earlier: [number, Uint8Array][] = []
  for (let p = 2; p <= 60; p += 2) earlier.push([p, stampedPage(PAGE_SIZE, p, 1, 1)])
  await repo.commit('b', { writes: earlier, message: 'earlier delta' })
  if (op === 'commit') return
  await repo.commit('b', { writes: crashCommitWrites(), message: 'second commit' })
  if (op === 'materialize' || op === 'materialize-copy') return
  for (const junk of ['junk-1', 'junk-2']) {
    await repo.createBranch(junk, { from: 'b' })
    for (let i = 1; i <= 3; i++) {
      const writes: [number, Uint8Array][] = []
      for (let p = 1 + i; p <= PAGES; p += 4) writes.push([p, stampedPage(PAGE_SIZE, p, 7, i)])
      await repo.commit(junk, { writes })
    }
    await repo.deleteBranch(junk)
  }
  // Rewrite most of b's delta, so its head's older segments are mostly dead (compaction work).
  const rewrite: [number, Uint8Array][] = []
  for (let p = 2; p <= PAGES; p += 1) if (p % 5 !== 0) rewrite.push([p, stampedPage(PAGE_SIZE, p, 1, 3)])
  await repo.commit('b', { writes: rewrite, message: 'rewrite' })
}

/** Copy a prepared directory (store and file) to `to`. */
export async function copyPrepared(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true })
}

/** Run the operation on the repository (the thing the child is killed in, and the rerun). */
export async function runOp(op: CrashOp, repo: Repository, dir: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  switch (op) {
    case 'import':
      await repo.importDatabase(dbFile(dir), { branch: 'main', ...opts })
      return
    case 'commit':
      await repo.commit('b', { writes: crashCommitWrites(), message: 'the interrupted commit', ...opts })
      return
    case 'materialize':
      await repo.materialize('b', opts)
      return
    case 'materialize-copy':
      await repo.materialize('b', { ...opts, copy: true })
      return
    case 'gc':
      // History beyond the heads is garbage too, so b's head has mostly-dead segments to compact.
      await repo.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 }, ...opts })
      return
  }
}
