import { BranchNotFoundError, SnapshotNotFoundError, isStrataError } from '../../errors/index.js'
import { isSnapshotId, isSnapshotIdPrefix } from '../../format/ids.js'
import { SNAPSHOTS_PREFIX, legacyTagKey, snapshotKey, tagKey } from '../../format/keys.js'
import { validateName } from '../../format/names.js'
import { decodeTagRecord, type TagRecord } from '../../format/tag-record.js'
import type { ObjectStore } from '../../store/object-store.js'
import type { Target } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'
import { readRef, type VersionedRef } from './refs.js'

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
    if (r) return branchTarget(spec, r)
    const tag = await readTag(ctx.store, spec)
    if (tag) return { snapshot: tag.record.snapshot, branch: null }
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

/** The target branch `name`, whose ref is `r`, resolves to: its head (with the ref's hint if it describes it). */
export function branchTarget(name: string, r: VersionedRef): Target {
  return { snapshot: r.ref.head, branch: name, ...(r.ref.readHint?.snapshot === r.ref.head ? { readHint: r.ref.readHint } : {}) }
}

/**
 * The tag named exactly `name` and the key it is stored at, or null: one GET of the key of its
 * case-folded name (a tag there under another spelling is not this one), and for a name with
 * upper-case letters one more of the key tags had before their keys were folded.
 */
export async function readTag(store: ObjectStore, name: string): Promise<{ key: string; record: TagRecord } | null> {
  for (const key of new Set([tagKey(name), legacyTagKey(name)])) {
    const got = await store.get(key)
    const record = got ? decodeTagRecord(key, got.body) : null
    if (record?.name === name) return { key, record }
  }
  return null
}
