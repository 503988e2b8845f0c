import { StrataError } from '@strata/core'
import type { MergeConflict } from '../merge/conflict.js'

/**
 * A merge with strategy `fail` found conflicts (or a conflict no strategy resolves, such as a
 * schema conflict). Nothing was committed; `data.conflicts` lists every one with its table,
 * key and columns.
 */
export class MergeConflictError extends StrataError {
  readonly code = 'STRATA_MERGE_CONFLICT' as const
  constructor(readonly data: { source: string; target: string; base: string; conflicts: MergeConflict[] }) {
    super(
      `merging "${data.source}" into "${data.target}" found ${data.conflicts.length} conflict${data.conflicts.length === 1 ? '' : 's'} ` +
        `(first: ${describe(data.conflicts[0])}); nothing was committed. Resolve them on either branch, or merge with strategy "ours" or "theirs"`,
    )
  }
}

function describe(c: MergeConflict | undefined): string {
  if (!c) return 'none'
  const key = Object.entries(c.key).map(([k, v]) => `${k}=${String(v)}`).join(', ')
  return `${c.kind} in ${c.table}${key ? ` at ${key}` : ''}`
}
