import Database from 'better-sqlite3'
import { InvalidArgumentError, type OperationOptions, type Repository, type SnapshotId } from '@strata/core'
import { defaultCacheRoot } from '../cache-dir.js'
import { repositoryWithCache, type SegmentCacheOption } from '../segment-cache.js'
import { freelist } from './changed-owners.js'
import { dbstatOwners } from './page-owners.js'
import { PageSource } from './page-source.js'
import { tableRowDiff, type TableRowDiff } from './row-diff.js'
import { rowPlan, sideOwners, type SideOwners } from './row-scope.js'
import { schemaDiff, type SchemaChange } from './schema-diff.js'
import { SideFiles, type SideMode } from './side-files.js'
import { isVirtual, schemaObjects, type SchemaObject } from './sql-catalog.js'
import { attributePages, type TableDiff } from './table-diff.js'

/**
 * How deep a diff looks:
 * - `pages`: how many pages differ, from page tables alone (no page is downloaded);
 * - `tables`: which tables and indexes own the differing pages (reads the b-tree paths down to them);
 * - `rows`: schema changes, then added, removed and changed rows per table (reads the rows the differing pages cover).
 */
export type DiffLevel = 'pages' | 'tables' | 'rows'

/** Options of {@link diff}. */
export interface DiffOptions extends OperationOptions {
  /** Default `pages`. */
  level?: DiffLevel
  /** `rows` only: compare just this table (and list only schema changes of its objects). */
  table?: string
  /** `rows` only: rows listed per table and kind (added, removed, changed); the counts are always exact. Default 100; 0 lists none. */
  maxRows?: number
  /** Where the two sides are exported for `tables` and `rows` (removed afterwards). Default: the OS temp directory. */
  workDir?: string
  /**
   * The local segment cache the exports read through, as live branches use it (see
   * `repositoryWithCache`): on by default for stores that are not local directories, so diffing
   * again, or against a branch that shares ancestry, downloads only what the cache lacks.
   */
  segmentCache?: SegmentCacheOption
  /** Root of the segment cache (`<cacheDir>/segments`). Default: as for live branches. */
  cacheDir?: string
  /**
   * `lazy` (default): serve both sides' pages on demand through the VFS (see `openBranch`'s lazy
   * mode), so only the pages read are fetched. `file`: export both sides whole first.
   */
  mode?: SideMode
  /**
   * Ignore the page diff's structure: owners from SQLite's `dbstat` over both whole databases,
   * and every touched table compared whole. Slower; the answer is the same (a cross-check).
   */
  exhaustive?: boolean
}

/** One side of a diff. */
export interface DiffSide {
  /** The branch, tag or snapshot spec as given. */
  spec: string
  snapshot: SnapshotId
  /** The branch, when the spec named one. */
  branch: string | null
  pageCount: number
}

/** What a diff read of one side. */
export interface SideRead {
  /** Pages fetched from the store. */
  pages: number
  /** Pages read to place the differing pages (the differing pages and the b-tree paths to them). */
  walked: number
}

/** Page counts of a diff. */
export interface PageCounts {
  pageSize: number
  /** Pages in both whose bytes differ. */
  changed: number
  /** Pages past `a`'s end that `b` has. */
  added: number
  /** Pages past `b`'s end that `a` had. */
  removed: number
}

/** What differs between two branches or snapshots, at the level asked for. */
export interface DiffResult {
  a: DiffSide
  b: DiffSide
  level: DiffLevel
  /** No page differs (same content, even if the snapshots differ). */
  identical: boolean
  pages: PageCounts
  /** `tables` and `rows`: the owners of the differing pages with counts; null at `pages`. */
  tables: TableDiff[] | null
  /** `rows`: schema changes (listed before row changes); null otherwise. */
  schema: SchemaChange[] | null
  /** `rows`: tables present on both sides whose rows differ (or the table asked for); null otherwise. */
  rows: TableRowDiff[] | null
  /**
   * `tables` and `rows`: per side, the pages fetched from the store (every page of a side
   * exported whole) and, of those, the pages read to place the differing pages in their b-trees.
   * Null at `pages`.
   */
  read: { a: SideRead; b: SideRead } | null
}

/** The attached name of side `b` in the analysing connection (side `a` is `main`). */
const SCHEMA_B = 'strata_b'

/**
 * Compare branches, tags or snapshots `aSpec` and `bSpec` of `repo` at `opts.level`.
 *
 * `pages` reads page tables only (manifests; the levels two chains share are read once). When no
 * page differs every level answers at once, with nothing downloaded.
 *
 * `tables` places each differing page in its b-tree on each side by searching down from the
 * roots `sqlite_schema` lists for the page's first key, reading only the pages on the way (see
 * `changedOwners`); a page no search reaches and the freelist does not hold (an overflow page)
 * makes that side fall back to SQLite's `dbstat`, which walks every b-tree.
 *
 * `rows` compares, per table, only the rowids the differing pages cover on either side: a
 * differing leaf covers the keys between the separators around it, a differing interior page the
 * keys it sends to a different child on the two sides. A row outside those ranges is reached
 * through identical pages on both sides, so it is identical. The comparison runs as SQL over one
 * connection with both sides attached (see {@link tableRowDiff}), pages fetched as SQLite reads
 * them. A table whose definition, root page or schema entry changed, that has no rowid (WITHOUT
 * ROWID), or that owns a page no search could place, is compared whole; each table's result says
 * which (`method`, `fullReason`). Either way the rows reported are those of a whole comparison.
 *
 * This is a function of `@strata/sqlite` taking the repository, rather than a method of
 * `Repository`, because the table and row levels need SQLite and `@strata/core` stays free of
 * it; `repo.diffPages` is the core-only page level.
 *
 * Throws what resolving the specs throws, and `InvalidArgumentError` for an unknown `table`.
 */
export async function diff(repo: Repository, aSpec: string, bSpec: string, opts: DiffOptions = {}): Promise<DiffResult> {
  const level = opts.level ?? 'pages'
  if (level !== 'pages' && level !== 'tables' && level !== 'rows') throw new InvalidArgumentError({ argument: 'level', reason: `${String(level)} is not pages, tables or rows` })
  const maxRows = opts.maxRows ?? 100
  if (!Number.isInteger(maxRows) || maxRows < 0) throw new InvalidArgumentError({ argument: 'maxRows', reason: `${maxRows} is not a whole number ≥ 0` })
  const pd = await repo.diffPages(aSpec, bSpec)
  const samePageSize = (await repo.snapshot(pd.b.snapshot)).pageSize === pd.pageSize
  const identical = samePageSize && pd.changed.length === 0 && pd.added.length === 0 && pd.removed.length === 0
  const result: DiffResult = {
    a: { spec: aSpec, snapshot: pd.a.snapshot, branch: pd.a.branch, pageCount: pd.a.pageCount },
    b: { spec: bSpec, snapshot: pd.b.snapshot, branch: pd.b.branch, pageCount: pd.b.pageCount },
    level,
    identical,
    pages: { pageSize: pd.pageSize, changed: pd.changed.length, added: pd.added.length, removed: pd.removed.length },
    tables: null,
    schema: null,
    rows: null,
    read: null,
  }
  if (level === 'pages') return result
  if (identical && (level === 'tables' || opts.table === undefined)) return { ...result, tables: [], read: { a: { pages: 0, walked: 0 }, b: { pages: 0, walked: 0 } }, ...(level === 'rows' ? { schema: [], rows: [] } : {}) }

  const files = await SideFiles.create(opts.workDir, opts.mode ?? 'lazy')
  let db: Database.Database | null = null
  try {
    const exportOpts = opts.signal ? { signal: opts.signal } : {}
    const source = await repositoryWithCache(repo, opts.segmentCache, opts.cacheDir ?? defaultCacheRoot())
    const [fa, fb] = await Promise.all([files.write(source, pd.a, 'a', exportOpts), files.write(source, pd.b, 'b', exportOpts)])
    db = new Database(fa.path, { readonly: true, fileMustExist: true })
    files.guard(db)
    db.prepare('ATTACH DATABASE ? AS ' + SCHEMA_B).run(fb.path)
    const srcA = new PageSource(fa)
    const srcB = new PageSource(fb)
    // One side after the other: each walk also reads the other side's copies of interior pages.
    const sides: [SideOwners, SideOwners] | null =
      samePageSize && !opts.exhaustive
        ? [await sideOwners(db, 'main', srcA, [...pd.changed, ...pd.removed], srcB), await sideOwners(db, SCHEMA_B, srcB, [...pd.changed, ...pd.added], srcA)]
        : null
    result.tables = sides
      ? attributePages(pd, sides[0].owners, sides[1].owners, true)
      : attributePages(pd, dbstatOwners(db, 'main', await freelist(srcA)), dbstatOwners(db, SCHEMA_B, await freelist(srcB)), samePageSize)
    if (level === 'rows') Object.assign(result, compareRows(db, result.tables, sides, opts.table, maxRows))
    const stats = files.stats()
    result.read = {
      a: { pages: stats[0]?.pagesFetched ?? pd.a.pageCount, walked: srcA.read },
      b: { pages: stats[1]?.pagesFetched ?? pd.b.pageCount, walked: srcB.read },
    }
    return result
  } finally {
    db?.close()
    await files.dispose()
  }
}

function compareRows(
  db: Database.Database,
  tables: readonly TableDiff[],
  sides: [SideOwners, SideOwners] | null,
  only: string | undefined,
  maxRows: number,
): { schema: SchemaChange[]; rows: TableRowDiff[] } {
  const objectsA = schemaObjects(db, 'main')
  const objectsB = schemaObjects(db, SCHEMA_B)
  if (only !== undefined && !objectsA.has(`table:${only}`) && !objectsB.has(`table:${only}`)) {
    const known = [...new Set([...objectsA.values(), ...objectsB.values()].filter((o) => o.type === 'table').map((o) => o.name))].sort()
    throw new InvalidArgumentError({ argument: 'table', reason: `no table "${only}" on either side (tables: ${known.join(', ') || 'none'})` })
  }
  let schema = schemaDiff(db, 'main', objectsA, SCHEMA_B, objectsB)
  if (only !== undefined) schema = schema.filter((c) => c.table === only)

  const touched = new Set(tables.filter((t) => t.type === 'table').map((t) => t.name))
  const rows: TableRowDiff[] = []
  for (const [key, ta] of objectsA) {
    const tb = objectsB.get(key)
    if (ta.type !== 'table' || !tb || isVirtual(ta) || isVirtual(tb)) continue
    if (only !== undefined ? ta.name !== only : !mayDiffer(ta, tb, touched, sides !== null)) continue
    const plan = rowPlan(db, 'main', ta, SCHEMA_B, tb, sides)
    const d = 'reason' in plan ? tableRowDiff(db, ta.name, 'main', SCHEMA_B, maxRows, null, plan.reason) : tableRowDiff(db, ta.name, 'main', SCHEMA_B, maxRows, plan)
    if (only !== undefined || d.added + d.removed + d.changed > 0) rows.push(d)
  }
  return { schema, rows: rows.sort((p, q) => (p.table < q.table ? -1 : p.table > q.table ? 1 : 0)) }
}

/** Whether a table's rows can differ: some page it owns differs, or its definition or root moved. */
function mayDiffer(a: SchemaObject, b: SchemaObject, touched: ReadonlySet<string>, samePageSize: boolean): boolean {
  return !samePageSize || touched.has(a.name) || a.rootpage !== b.rootpage || a.sql !== b.sql
}
