import type BetterSqlite3 from 'better-sqlite3'
import { InvalidArgumentError, type OperationOptions, type Repository, type SnapshotId, type Target } from '@strata/core'
import { defaultCacheRoot } from '../cache-dir.js'
import { PageSource } from '../diff/page-source.js'
import { rowPlan, sideOwners, type SideOwners } from '../diff/row-scope.js'
import { SIDE_LAZY_OPTIONS, SideFiles } from '../diff/side-files.js'
import { quoteId, schemaObjects, type SchemaObject } from '../diff/sql-catalog.js'
import { attributePages } from '../diff/table-diff.js'
import { MergeConflictError, MergeRefusedError } from '../errors/index.js'
import { openBranch } from '../live-branch.js'
import type { LiveCommitResult } from '../live-commit.js'
import type { SegmentCacheOption } from '../segment-cache.js'
import type { MergeConflict } from './conflict.js'
import { findMergeBase } from './merge-base.js'
import { mergeTableRows, type TableMergeResult } from './row-merge.js'
import { mergeSchema, type AppliedSchemaChange, type DeferredStatement } from './schema-merge.js'

/**
 * How a merge treats conflicts: `fail` (the default) commits nothing and throws
 * `MergeConflictError` listing every conflict; `ours` keeps the target's values in each
 * conflict, `theirs` the source's.
 */
export type MergeStrategy = 'fail' | 'ours' | 'theirs'

/** Options of {@link merge}. */
export interface MergeOptions extends OperationOptions {
  /** Default `fail`. */
  strategy?: MergeStrategy
  /** Work out the merge, report it, commit nothing. Conflicts are reported, not thrown. */
  dryRun?: boolean
  /** The merge commit's message. Default `merge <source> into <target>`. */
  message?: string
  /** Default: the repository's default author. */
  author?: string
  /** Where the base's and the source's lazy files live while the merge reads them (removed afterwards). Default: the OS temp directory. */
  workDir?: string
  /** Root of the target's working file and the segment cache (as for live branches). */
  cacheDir?: string
  /** The local segment cache (see `OpenBranchOptions.segmentCache`). */
  segmentCache?: SegmentCacheOption
}

/** What a merge did, or with `dryRun` would do. */
export interface MergeResult {
  source: { spec: string; snapshot: SnapshotId; branch: string | null }
  /** The target branch and its head before the merge. */
  target: { branch: string; head: SnapshotId }
  /** The merge base: the last snapshot both histories share. */
  base: SnapshotId
  strategy: MergeStrategy
  /**
   * `merged`: the result is committed (or nothing changed, see `commit`); `up-to-date`: the
   * source has nothing the target lacks; `dry-run`: nothing was committed on purpose.
   */
  status: 'merged' | 'up-to-date' | 'dry-run'
  /** The source's schema changes applied to the target. */
  schema: AppliedSchemaChange[]
  /** Per table the source changed rows of: what the merge wrote. */
  tables: TableMergeResult[]
  /** Every conflict, with how the strategy resolved it (`resolution: null`: unresolved; only in a dry run). */
  conflicts: MergeConflict[]
  /**
   * The merge commit (operation `merge`, recording the source and the base), also when the target
   * held every change already (then it changes no page); null for `up-to-date` and dry runs.
   */
  commit: LiveCommitResult | null
  /** Pages the merge fetched from the store: of the target (its lazy working file), of the base and of the source. */
  read: { targetPages: number; basePages: number; sourcePages: number; pageSize: number }
}

const BASE = 'strata_base'
const THEIRS = 'strata_theirs'

/**
 * Merge `source` (a branch, tag or snapshot) into branch `target`: a three-way merge at row
 * level against the merge base, the last snapshot both histories share (see `findMergeBase`).
 *
 * The target is opened as a lazy live branch, and the base and the source as lazy files beside
 * it, so only the pages the merge reads are fetched. The page diff between base and source says
 * which pages the source changed; searching their b-trees from the roots (see `changedOwners`)
 * names the tables and indexes owning them and the rowids they cover. Only those tables are
 * compared, and in each only the rows in those ranges (the whole table when its definition or
 * root changed, or it has no rowid), row by row, in SQL (see `mergeTableRows` for the row rules
 * and `mergeSchema` for the schema rules). The merged result
 * is written as SQL into the target's copy in one transaction, so indexes and constraints are
 * maintained by SQLite; triggers are not fired (each side's already ran). The tables written
 * then pass `PRAGMA integrity_check`, and `PRAGMA foreign_key_check` must report no row of a
 * table the merge wrote or references; otherwise `MergeRefusedError`.
 *
 * The result is committed as an ordinary delta on the target with compare-and-swap on the head
 * the merge read: a concurrent commit makes it fail with `ConflictError`, the target keeps the
 * other commit, and running the merge again merges into it. Conflicts under strategy `fail`
 * throw `MergeConflictError` and commit nothing.
 *
 * Throws `BranchNotFoundError` for an unknown target, `SnapshotNotFoundError` for an unknown
 * source, `InvalidArgumentError` for a bad strategy or histories that share no snapshot.
 */
export async function merge(repo: Repository, source: string, target: string, opts: MergeOptions = {}): Promise<MergeResult> {
  const strategy = opts.strategy ?? 'fail'
  if (strategy !== 'fail' && strategy !== 'ours' && strategy !== 'theirs') {
    throw new InvalidArgumentError({ argument: 'strategy', reason: `${String(strategy)} is not fail, ours or theirs` })
  }
  const src = await repo.resolveTarget(source)
  // Nothing to bring in: answer before hydrating the target.
  const before = (await repo.getBranch(target)).head
  const early = await findMergeBase(repo, before, src.snapshot)
  if (early === null) throw noBase(source, target)
  if (early === src.snapshot) return upToDate(source, src, target, before, early, strategy)
  const live = await openBranch(repo, target, {
    mode: 'lazy',
    lazy: SIDE_LAZY_OPTIONS,
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.segmentCache !== undefined ? { segmentCache: opts.segmentCache } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  let files: SideFiles | null = null
  try {
    const data = live.repo
    const ours = live.head
    const base = ours === before ? early : await findMergeBase(data, ours, src.snapshot)
    if (base === null) throw noBase(source, target)
    const [tb, to, tt] = await Promise.all([data.resolve(base), data.resolve(ours, target), data.resolve(src.snapshot, src.branch)])
    // Page tables only: which pages the source changed since the base.
    const sourceChanges = await data.diffPages(base, src.snapshot)
    const result: MergeResult = {
      source: { spec: source, snapshot: src.snapshot, branch: src.branch },
      target: { branch: target, head: ours },
      base,
      strategy,
      status: opts.dryRun ? 'dry-run' : 'merged',
      schema: [],
      tables: [],
      conflicts: [],
      commit: null,
      read: { targetPages: 0, basePages: 0, sourcePages: 0, pageSize: to.pageSize },
    }
    if (base === src.snapshot || (tb.pageSize === tt.pageSize && sourceChanges.changed.length + sourceChanges.added.length + sourceChanges.removed.length === 0)) {
      return { ...result, status: 'up-to-date' }
    }
    if (tb.pageSize !== to.pageSize || tt.pageSize !== to.pageSize) {
      throw new InvalidArgumentError({ argument: 'source', reason: `the target, the source and their base must share one page size (${to.pageSize}, ${tt.pageSize}, ${tb.pageSize} bytes)` })
    }
    // The base and the source as lazy files: only the pages the merge reads are fetched.
    files = await SideFiles.create(opts.workDir, 'lazy')
    const signal = opts.signal ? { signal: opts.signal } : {}
    const baseFile = await files.write(data, { snapshot: base, branch: null }, 'base', signal)
    const theirsFile = await files.write(data, src, 'source', signal)

    const db = live.db
    db.prepare(`ATTACH DATABASE ? AS ${BASE}`).run(baseFile.path)
    db.prepare(`ATTACH DATABASE ? AS ${THEIRS}`).run(theirsFile.path)
    const foreignKeys = Number(db.pragma('foreign_keys', { simple: true }))
    db.pragma('foreign_keys = OFF')
    let open = false
    try {
      // Where the differing pages sit in the base's and the source's b-trees, and the rowids they cover.
      const srcBase = new PageSource(baseFile)
      const srcTheirs = new PageSource(theirsFile)
      const sides: [SideOwners, SideOwners] = [
        await sideOwners(db, BASE, srcBase, [...sourceChanges.changed, ...sourceChanges.removed], srcTheirs),
        await sideOwners(db, THEIRS, srcTheirs, [...sourceChanges.changed, ...sourceChanges.added], srcBase),
      ]
      const changedTables = tablesOwning(db, attributePages(sourceChanges, sides[0].owners, sides[1].owners, true).map((t) => t.name))
      db.exec('BEGIN IMMEDIATE')
      open = true
      const schemas = { ours: 'main', base: BASE, theirs: THEIRS }
      const schema = mergeSchema(db, schemas, strategy, changedTables)
      result.schema = schema.applied
      result.conflicts.push(...schema.conflicts)
      const written = new Set<string>(schema.applied.filter((a) => a.type === 'table' && a.change !== 'removed').map((a) => a.name))
      for (const table of [...changedTables].sort()) {
        if (schema.settled.has(table) || schema.blocked.has(table)) continue
        const inOurs = hasTable(db, 'main', table)
        const inTheirs = hasTable(db, THEIRS, table)
        const inBase = hasTable(db, BASE, table)
        if (!inTheirs) continue
        if (!inOurs) {
          if (inBase) {
            result.conflicts.push({ kind: 'schema', table, key: {}, columns: [], detail: 'the target dropped this table; the source changed its rows', resolution: strategy === 'ours' ? 'ours' : null })
          }
          continue
        }
        const objBase = inBase ? schemaObject(db, BASE, table) : null
        const plan = objBase ? rowPlan(db, BASE, objBase, THEIRS, schemaObject(db, THEIRS, table)!, sides) : null
        const merged = mergeTableRows(db, table, { ...schemas, base: inBase ? BASE : null }, strategy, plan && !('reason' in plan) ? plan : null)
        result.conflicts.push(...merged.conflicts)
        if (merged.result.sourceChanges > 0) result.tables.push(merged.result)
        if (merged.result.inserted + merged.result.updated + merged.result.deleted > 0) written.add(table)
      }
      runDeferred(db, schema.deferred, source, target)
      const unresolved = result.conflicts.filter((c) => c.resolution === null)
      if (!opts.dryRun && (unresolved.length > 0 || (strategy === 'fail' && result.conflicts.length > 0))) {
        throw new MergeConflictError({ source, target, base, conflicts: result.conflicts })
      }
      // A dry run says whether the merge would be refused, too (when it has no unresolved conflict).
      if (unresolved.length === 0) checkResult(db, written, schema.applied.length > 0, source, target)
      db.exec(opts.dryRun ? 'ROLLBACK' : 'COMMIT')
      open = false
      const [baseStats, theirsStats] = files.stats()
      result.read.basePages = baseStats?.pagesFetched ?? tb.pageCount
      result.read.sourcePages = theirsStats?.pagesFetched ?? tt.pageCount
      result.read.targetPages = live.lazyStats()?.pagesFetched ?? to.pageCount
    } finally {
      if (open) db.exec('ROLLBACK')
      db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
      db.exec(`DETACH DATABASE ${BASE}`)
      db.exec(`DETACH DATABASE ${THEIRS}`)
    }
    if (opts.dryRun) return result
    const fields = {
      message: opts.message ?? `merge ${source} into ${target}`,
      operation: 'merge',
      merge: { source: src.snapshot, sourceBranch: src.branch, base },
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      ...signal,
    }
    const commit = await live.commit(fields)
    if (commit.changed) return { ...result, commit }
    // The target holds every change already: the merge is still recorded (no page changes), so
    // the next merge of these histories starts from this source rather than an older base.
    const empty = await data.commit(target, { ...fields, expectedHead: ours, allowEmpty: true })
    return { ...result, commit: { ...empty, pagesChanged: 0, pagesScanned: commit.pagesScanned } }
  } finally {
    await live.close({ uncommitted: 'discard' })
    await files?.dispose()
  }
}

function noBase(source: string, target: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument: 'source', reason: `"${source}" and "${target}" share no history, so there is no merge base` })
}

function upToDate(spec: string, src: Target, target: string, head: SnapshotId, base: SnapshotId, strategy: MergeStrategy): MergeResult {
  return {
    source: { spec, snapshot: src.snapshot, branch: src.branch },
    target: { branch: target, head },
    base,
    strategy,
    status: 'up-to-date',
    schema: [],
    tables: [],
    conflicts: [],
    commit: null,
    read: { targetPages: 0, basePages: 0, sourcePages: 0, pageSize: 0 },
  }
}

/** The tables owning `owners` (tables themselves, and the tables of indexes), in the source or the base. */
function tablesOwning(db: BetterSqlite3.Database, owners: readonly string[]): Set<string> {
  const out = new Set<string>()
  const lookup = (schema: string, name: string): string | undefined =>
    (db.prepare(`SELECT tbl_name AS t FROM ${quoteId(schema)}.sqlite_schema WHERE name = ? AND type IN ('table', 'index')`).get(name) as { t: string } | undefined)?.t
  for (const name of owners) {
    if (name === 'sqlite_schema' || name.startsWith('(')) continue
    const t = lookup(THEIRS, name) ?? lookup(BASE, name)
    if (t !== undefined && !t.startsWith('sqlite_')) out.add(t)
  }
  return out
}

function schemaObject(db: BetterSqlite3.Database, schema: string, table: string): SchemaObject | null {
  return schemaObjects(db, schema).get(`table:${table}`) ?? null
}

function hasTable(db: BetterSqlite3.Database, schema: string, table: string): boolean {
  return db.prepare(`SELECT 1 FROM ${quoteId(schema)}.sqlite_schema WHERE type = 'table' AND name = ?`).get(table) !== undefined
}

const DEFERRED_ORDER: Record<string, number> = { index: 0, view: 1, trigger: 2, table: 3 }

/** Create the indexes, views and triggers the schema step left for after the rows; a failure refuses the merge. */
function runDeferred(db: BetterSqlite3.Database, deferred: readonly DeferredStatement[], source: string, target: string): void {
  for (const d of [...deferred].sort((a, b) => DEFERRED_ORDER[a.type]! - DEFERRED_ORDER[b.type]!)) {
    // A trigger or index whose table the merge dropped goes with it.
    if (d.type !== 'view' && !hasTable(db, 'main', d.table)) continue
    try {
      db.exec(d.sql)
    } catch (e) {
      throw new MergeRefusedError({ source, target, reason: `the merged database cannot hold this ${d.type} of ${d.table}`, problems: [`${d.sql}: ${String((e as Error).message)}`] }, { cause: e })
    }
  }
}

/**
 * Refuse a result that breaks the database: `PRAGMA integrity_check` of every table written (of
 * the whole database when the schema changed), and `PRAGMA foreign_key_check` rows of tables
 * written or referencing one.
 */
function checkResult(db: BetterSqlite3.Database, written: ReadonlySet<string>, schemaChanged: boolean, source: string, target: string): void {
  const problems: string[] = []
  const check = (arg: string): void => {
    for (const r of db.prepare(`PRAGMA main.integrity_check${arg}`).raw(true).all() as unknown[][]) if (r[0] !== 'ok') problems.push(String(r[0]))
  }
  if (schemaChanged) check('')
  else for (const t of written) check(`(${quoteId(t)})`)
  if (problems.length) throw new MergeRefusedError({ source, target, reason: 'PRAGMA integrity_check reports problems in the merged database', problems })
  const fk = db.prepare('PRAGMA main.foreign_key_check').all() as { table: string; rowid: number | null; parent: string; fkid: number }[]
  for (const v of fk) {
    if (written.has(v.table) || written.has(v.parent)) problems.push(`${v.table} row ${v.rowid ?? '(no rowid)'} references a missing row of ${v.parent} (foreign key ${v.fkid})`)
  }
  if (problems.length) throw new MergeRefusedError({ source, target, reason: 'PRAGMA foreign_key_check reports rows that reference missing rows', problems })
}
