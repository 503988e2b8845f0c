import { BranchNotFoundError, SnapshotNotFoundError, isStrataError } from '../../errors/index.js'
import { isSnapshotId, isSnapshotIdPrefix } from '../../format/ids.js'
import { SNAPSHOTS_PREFIX, snapshotKey, tagKey } from '../../format/keys.js'
import { validateName } from '../../format/names.js'
import { decodeTagRecord } from '../../format/tag-record.js'
import type { Target } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'
import { readRef } from './refs.js'

/**
 * Resolve a spec to a snapshot: a branch name (its head), a tag name (its snapshot), or a
 * snapshot id or unique prefix of at least 4 hex digits. Branch names win over tag names, and
 * both over prefixes.
 */
export async function resolveTarget(ctx: RepoContext, spec: string): Promise<Target> {
  let nameError: unknown = null
  try {
    validateName(spec)
    const r = await readRef(ctx.store, spec)
    if (r) return { snapshot: r.ref.head, branch: spec }
    const tag = await ctx.store.get(tagKey(spec))
    if (tag) return { snapshot: decodeTagRecord(tagKey(spec), tag.body).snapshot, branch: null }
  } catch (e) {
    if (!isStrataError(e, 'STRATA_INVALID_NAME')) throw e
    nameError = e
  }
  if (isSnapshotIdPrefix(spec)) {
    if (isSnapshotId(spec)) {
      if (await ctx.store.head(snapshotKey(spec))) return { snapshot: spec, branch: null }
      throw new SnapshotNotFoundError({ ref: spec })
    }
    const found: string[] = []
    for await (const o of ctx.store.list(SNAPSHOTS_PREFIX + spec)) {
      found.push(o.key.slice(SNAPSHOTS_PREFIX.length))
      if (found.length > 5) break
    }
    if (found.length === 1 && isSnapshotId(found[0]!)) return { snapshot: found[0], branch: null }
    if (found.length > 1) throw new SnapshotNotFoundError({ ref: spec, candidates: found })
  }
  if (nameError) throw nameError
  if (isSnapshotIdPrefix(spec)) throw new SnapshotNotFoundError({ ref: spec })
  throw new BranchNotFoundError({ name: spec })
}
