import type { SqlValue } from '../diff/sql-catalog.js'

/**
 * What kind of disagreement a merge conflict is:
 * - `update/update`: both sides changed the same cells of a row to different values;
 * - `delete/update`: the target deleted a row the source changed;
 * - `update/delete`: the target changed a row the source deleted;
 * - `insert/insert`: both sides inserted different rows under the same key;
 * - `unique`: a row from the source collides with another row of the target on a UNIQUE key;
 * - `schema`: both sides changed one object's definition differently, or one side changed a
 *   table's definition in a way the other side's row changes cannot be mapped onto.
 */
export type MergeConflictKind = 'update/update' | 'delete/update' | 'update/delete' | 'insert/insert' | 'unique' | 'schema'

/** One column of a conflict with its value on each side (null where the row does not exist there). */
export interface ConflictColumn {
  name: string
  base: SqlValue
  ours: SqlValue
  theirs: SqlValue
}

/** One conflict: which table and row, which columns, and what each side holds. */
export interface MergeConflict {
  kind: MergeConflictKind
  table: string
  /** The row's key (`{ rowid }` or the primary key of a WITHOUT ROWID table); `{}` for schema conflicts. */
  key: Record<string, SqlValue>
  /** The disagreeing columns; for schema conflicts one entry `sql` with the three definitions. */
  columns: ConflictColumn[]
  /** A sentence for people. */
  detail: string
  /** How the strategy resolved it: the side whose values were kept, or null when it was not resolved. */
  resolution: 'ours' | 'theirs' | null
}
